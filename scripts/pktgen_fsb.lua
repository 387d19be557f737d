-- pktgen_fsb.lua: an unattended pktgen-dpdk (tag pktgen-23.06.1) run against
-- the appliance: replay the pcap given to pktgen with `-s 0:FILE.pcap`
-- (written by `flashsale-bench pcap`) on port 0, sample port 0's counters
-- every second, write them and the totals to a file, quit.
-- docs/benchmarks.md ("With pktgen") has the commands and the figures.
--
-- Environment (all optional):
--   FSB_OUT      result file (default /tmp/fsb/pktgen.txt)
--   FSB_SECONDS  seconds of traffic (default 10)
--   FSB_RATE     transmit rate, % of the link speed pktgen sees (default 100;
--                memif reports 100 Gb/s)
--
-- Result file: one "sec N tx_pps A rx_pps B" line per second, then
-- "total tx T rx R seconds S tx_pps A rx_pps B" (pps over the whole run; rx
-- counts the appliance's answers, one frame per request datagram), or
-- "link down" when the link did not come up within 10 s.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local out = os.getenv("FSB_OUT") or "/tmp/fsb/pktgen.txt"
local secs = tonumber(os.getenv("FSB_SECONDS") or "10")
local rate = os.getenv("FSB_RATE") or "100"

local function link_up()
	local s = pktgen.linkState("0")[0] or ""
	return string.find(s, "UP", 1, true) ~= nil
end

local function stats()
	return pktgen.portStats("0", "port")[0]
end

local f = assert(io.open(out, "w"))
for _ = 1, 100 do
	if link_up() then break end
	pktgen.delay(100)
end
if not link_up() then
	f:write("link down\n")
	f:close()
	pktgen.quit()
	return
end

pktgen.set("0", "rate", rate)
pktgen.clr()
pktgen.delay(200)
local first = stats()
local prev = first
pktgen.start("0")
for s = 1, secs do
	pktgen.delay(1000)
	local st = stats()
	f:write(string.format("sec %d tx_pps %d rx_pps %d\n", s, st.opackets - prev.opackets,
			      st.ipackets - prev.ipackets))
	f:flush()
	prev = st
end
pktgen.stop("0")
pktgen.delay(500) -- the last answers
local last = stats()
local tx, rx = last.opackets - first.opackets, last.ipackets - first.ipackets
f:write(string.format("total tx %d rx %d seconds %d tx_pps %d rx_pps %d\n", tx, rx, secs,
		      (prev.opackets - first.opackets) // secs, (prev.ipackets - first.ipackets) // secs))
f:close()
pktgen.quit()
