// Where Gatehouse runs and who this app is to it. The defaults match the README: Gatehouse at
// http://localhost:8080, the app at http://localhost:8000/, registered as the public client
// `spa`. Settings live here rather than in the page's address on purpose: an app that took
// its issuer from a query parameter would send people to whatever server a link names.
// (index.html's Content-Security-Policy names the issuer too: change both.)
export const config = {
  issuer: "http://localhost:8080",
  clientId: "spa",
  // Registered exactly, with `gatehouse client create --redirect-uri`: this folder's URL.
  redirectUri: new URL(".", location.href).href,
  postLogoutRedirectUri: new URL(".", location.href).href,
  scope: "openid profile email",
};
