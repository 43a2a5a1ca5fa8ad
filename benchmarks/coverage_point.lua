-- wrk script: single-point POST /coverage at random points of central Shanghai
math.randomseed(1)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local lon = 121.43 + math.random() * 0.09
  local lat = 31.19 + math.random() * 0.08
  return wrk.format(nil, "/coverage", nil, string.format('{"points":[{"lon":%.6f,"lat":%.6f}]}', lon, lat))
end
