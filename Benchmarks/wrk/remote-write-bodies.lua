-- wrk script: POSTs BODIES_DIR/body-000000.bin, body-000001.bin, … in order, each at most once,
-- starting at body number BODIES_FIRST (default 0).
-- The bodies come from MakeWriteBodies; sending them in order keeps every series' timestamps rising.
-- Wrapping around would resend old timestamps (out-of-order rejections, not ingest), so when the
-- bodies run out the thread stops and done() prints "bodies exhausted": the run is then too short
-- of bodies and its rates (wrk divides by the full duration) are not valid. Use one wrk thread
-- (-t1); each thread would send the whole sequence.
local headers = {
  ["Content-Type"] = "application/x-protobuf",
  ["Content-Encoding"] = "snappy",
  ["X-Prometheus-Remote-Write-Version"] = "0.1.0",
}
local path = os.getenv("WRITE_PATH") or "/api/v1/write"
local bodies = {}
sent = 0
exhausted = false

-- Loaded in init(), which runs only in the thread's Lua state: the top level also runs in wrk's
-- main state, which would hold a second copy of every body.
function init(args)
  local dir = assert(os.getenv("BODIES_DIR"), "set BODIES_DIR")
  local first = tonumber(os.getenv("BODIES_FIRST") or "0")
  while true do
    local f = io.open(string.format("%s/body-%06d.bin", dir, first + #bodies), "rb")
    if not f then break end
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  assert(#bodies > 0, string.format("no body-%06d.bin in %s", first, dir))
end

function request()
  if sent >= #bodies then
    exhausted = true
    wrk.thread:stop()
    -- wrk needs a request back; the loop stops before it matters.
    return wrk.format("GET", "/-/exhausted")
  end
  sent = sent + 1
  return wrk.format("POST", path, headers, bodies[sent])
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("bodies sent: %d\n", t:get("sent")))
    if t:get("exhausted") then io.write("bodies exhausted\n") end
  end
end
