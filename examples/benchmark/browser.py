"""Signs in on Gatehouse's login page as a browser would and prints the Cookie header the
browser then sends. Usage: browser.py BASE_URL EMAIL PASSWORD"""

import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

base, email, password = sys.argv[1:4]


class Stay(urllib.request.HTTPRedirectHandler):
    """The answer to signing in is a redirect; its cookies are all that is needed."""

    def redirect_request(self, *args):
        return None


jar = http.cookiejar.CookieJar()
browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), Stay())
page = browser.open(f"{base}/login").read().decode()
csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
form = urllib.parse.urlencode({"csrf": csrf, "return_to": "/", "email": email, "password": password})
try:
    browser.open(f"{base}/login", data=form.encode())
    sys.exit("signing in did not redirect: wrong email or password?")
except urllib.error.HTTPError as answer:
    if answer.code != 303 and answer.code != 302:
        sys.exit(f"signing in answered {answer.code}")
print("; ".join(f"{cookie.name}={cookie.value}" for cookie in jar))
