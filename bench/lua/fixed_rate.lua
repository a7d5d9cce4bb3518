-- Constant-rate load for wrk, which has no rate option of its own (wrk2 is not packaged by Debian).
--
-- Usage: wrk -t1 -c64 -d10s -s fixed_rate.lua URL -- RATE
--
-- Every request is given the next slot of a thread-wide schedule (one slot each 1/RATE s) and
-- delay() holds its connection until that slot. A server that falls behind gets the missed slots
-- in a burst once it answers again, bounded by the number of connections. Latency is wrk's own,
-- measured from the moment the request is written (not from its slot, as wrk2 would: a stall
-- therefore shows as a lower achieved rate, which done() prints, not as a longer tail).
-- Use one wrk thread (-t1): RATE is per thread.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local interval_ms = nil
local next_slot = nil
local rate = nil

function init(args)
  rate = tonumber(args[1])
  if rate == nil or rate <= 0 then
    error("fixed_rate.lua needs the rate in requests per second: wrk ... -- RATE")
  end
  interval_ms = 1000 / rate
end

function delay()
  local t = now_ms()
  if next_slot == nil or next_slot < t - 1000 then
    -- Start, or a stall of over a second: restart the schedule rather than fire a huge burst.
    next_slot = t
  end
  next_slot = next_slot + interval_ms
  local d = next_slot - t
  if d < 0 then
    return 0
  end
  -- wrk's timers have millisecond resolution; round to the nearest one.
  return math.floor(d + 0.5)
end

-- done() runs in wrk's main Lua state, not the thread's, so it cannot see the rate from init().
function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    "FIXED_RATE achieved=%.1f requests=%d p50_us=%d p90_us=%d p99_us=%d "
      .. "p999_us=%d max_us=%d errors=%d non2xx=%d\n",
    summary.requests / seconds, summary.requests,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status
  ))
end
