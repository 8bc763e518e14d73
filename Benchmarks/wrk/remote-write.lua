-- wrk script: POSTs the Prometheus 2.42 remote-write fixtures round-robin.
-- FIXTURES names the remote-write fixture folder.
local dir = os.getenv("FIXTURES")
local bodies = {}
for i = 0, 5 do
  local f = assert(io.open(dir .. "/write-" .. i .. ".bin", "rb"))
  bodies[#bodies + 1] = f:read("*a")
  f:close()
end
local headers = {
  ["Content-Type"] = "application/x-protobuf",
  ["Content-Encoding"] = "snappy",
  ["X-Prometheus-Remote-Write-Version"] = "0.1.0",
}
local n = 0
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", os.getenv("WRITE_PATH") or "/api/v1/write", headers, bodies[n])
end
