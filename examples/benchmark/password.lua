-- Password grants for users bench0@example.com … bench15@example.com, in turn.
local n = 0
request = function()
  n = n + 1
  local body = "grant_type=password&username=bench" .. (n % 16) .. "%40example.com&password=bench-password-123"
  return wrk.format("POST", "/oauth2/token", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
