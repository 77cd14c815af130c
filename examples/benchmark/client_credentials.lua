-- Client-credentials grants for the client `bench` (its secret in BENCH_SECRET).
local auth = "Basic " .. os.getenv("BENCH_BASIC")
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = auth
