-- The authorization code flow, as a signed-in browser and a public first-party client (no
-- consent): each connection asks for a code, then exchanges it with its PKCE verifier.
-- Run with as many threads as connections (-t N -c N): a thread's next request depends on
-- its last answer. Prints requests= (completed exchanges), rate_per_s= and failures= (any
-- answer other than a redirect with a code, or 200 for an exchange).
-- Settings: BENCH_COOKIE (the browser's Cookie header), BENCH_AUTHORIZE_PATH,
-- BENCH_EXCHANGE_BODY (the token request without its code).
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  cookie = os.getenv("BENCH_COOKIE")
  authorize = os.getenv("BENCH_AUTHORIZE_PATH")
  exchange = os.getenv("BENCH_EXCHANGE_BODY")
  code = nil
  exchanges = 0
  failures = 0
end
request = function()
  if code then
    return wrk.format("POST", "/oauth2/token",
      {["Content-Type"] = "application/x-www-form-urlencoded"}, exchange .. "&code=" .. code)
  end
  return wrk.format("GET", authorize, {["Cookie"] = cookie})
end
response = function(status, headers, body)
  if code then
    code = nil
    if status == 200 then exchanges = exchanges + 1 else failures = failures + 1 end
  else
    code = string.match(headers["location"] or headers["Location"] or "", "[?&]code=([^&]+)")
    if not code then failures = failures + 1 end
  end
end
done = function(summary, latency, requests)
  local total, failed = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("exchanges")
    failed = failed + thread:get("failures")
  end
  io.write(string.format("requests=%d\nrate_per_s=%d\nfailures=%d\n",
    total, total / (summary.duration / 1e6), failed))
end
