-- wrk script for the declarations benchmark: POST the JSON bodies of a file in turn (one per line) with the
-- declarant's header; print one JSON summary line when done.
-- Usage: wrk -s wrk_declarations.lua URL -- BODIES_FILE DECLARANT_KBO
local bodies = {}
local declarant = ""
local counter = 0

init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  declarant = args[2]
end

request = function()
  counter = counter + 1
  local i = (counter % #bodies) + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Kruispunt-Declarant"] = declarant,
  }, bodies[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"elapsed_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
