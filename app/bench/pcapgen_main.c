/*
 * pcapgen_main.c — flashsale-pcapgen: writes BUY datagrams as Ethernet
 * frames to a pcap file for pktgen's replay (pcap.c has the format and the
 * options; `flashsale-bench pcap` is the same tool under its old name).
 * Exit: 0, or 2 on a usage, config or file error.
 */
#include "bench.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	if (fs_token_init() != 0) {
		fprintf(stderr, "flashsale-pcapgen: libsodium init failed\n");
		return 2;
	}
	return pcapgen_main("flashsale-pcapgen", argc, argv);
}
