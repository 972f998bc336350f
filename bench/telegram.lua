-- wrk script: POST distinct Telegram updates (a unique update_id and message_id each).
-- args: <template file> <first update id>. The template is one update whose update_id is
-- 900000000001 and message_id 900000002; each request replaces them.
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  local template = file:read("*a")
  file:close()
  local a, b = template:find("900000000001", 1, true)
  head, rest = template:sub(1, a - 1), template:sub(b + 1)
  local c, d = rest:find("900000002", 1, true)
  middle, tail = rest:sub(1, c - 1), rest:sub(d + 1)
  first = tonumber(args[2]) + thread_number * 100000000
  sent = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  -- %.0f: Lua numbers are doubles, and tostring would write large ones as 1.2e+12
  local update_id = string.format("%.0f", first + sent)
  local message_id = string.format("%.0f", thread_number * 100000000 + sent)
  local body = head .. update_id .. middle .. message_id .. tail
  return wrk.format(nil, nil, nil, body)
end
