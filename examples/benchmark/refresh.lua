-- Refresh grants, each connection following its own chain of rotated refresh tokens.
-- Run with as many threads as connections (-t N -c N); tokens come from BENCH_TOKENS_FILE,
-- one per line.
local threads = {}
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  local f = io.open(os.getenv("BENCH_TOKENS_FILE"))
  local i = 0
  for line in f:lines() do
    i = i + 1
    if i == id then token = line end
  end
  f:close()
end
request = function()
  return wrk.format("POST", "/oauth2/token", {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=refresh_token&refresh_token=" .. token)
end
response = function(status, headers, body)
  local next_token = string.match(body, '"refresh_token":"([^"]+)"')
  if next_token then token = next_token end
end
