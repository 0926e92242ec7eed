-- wrk script for the hub benchmark: POST the JSON bodies of a file in turn (one per line) and print one
-- JSON summary line when done. A line "<signature>\t<body>" is a signed envelope: its signature goes in the
-- X-Kruispunt-Signature header. Usage: wrk -s wrk_bodies.lua URL -- BODIES_FILE
local bodies = {}
local signatures = {}
local counter = 0

init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      local signature, body = line:match("^([^\t]+)\t(.*)$")
      if signature then
        bodies[#bodies + 1] = body
        signatures[#bodies] = signature
      else
        bodies[#bodies + 1] = line
      end
    end
  end
end

request = function()
  counter = counter + 1
  local i = (counter % #bodies) + 1
  local headers = { ["Content-Type"] = "application/json" }
  if signatures[i] then headers["X-Kruispunt-Signature"] = signatures[i] end
  return wrk.format("POST", nil, headers, bodies[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"elapsed_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"non_2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
