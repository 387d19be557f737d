/*
 * repl_frame.c — the replication link's frames (layout in repl.h): header
 * codec, HELLO/WELCOME/ACK payloads, and the standby's check of a RECORDS
 * payload. Pure functions over caller buffers, unit-tested in
 * tests/test_repl.c and fed garbage there.
 *
 * A RECORDS payload is the primary's WAL bytes unchanged, so the CRC32C
 * each record got when the primary's worker encoded it is checked here, on
 * the standby, end to end: a bit flipped anywhere on the way (a proxy, a
 * buffer) refuses the frame. A frame cut short never reaches this code: the
 * reader only hands over whole frames (a link cut mid-frame is a closed
 * link), and the check refuses a payload whose last record is incomplete.
 */
#include "repl.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void repl_hdr_encode(uint8_t out[REPL_HDR_BYTES], uint8_t type, uint8_t flags, uint16_t shard,
		     uint64_t epoch, const void *payload, uint32_t len)
{
	FS_ASSERT(len <= REPL_PAYLOAD_MAX && (len == 0 || payload != NULL));
	put32(out, REPL_MAGIC);
	out[4] = type;
	out[5] = flags;
	out[6] = (uint8_t)shard;
	out[7] = (uint8_t)(shard >> 8);
	put32(out + 8, len);
	put32(out + 12, len ? wal_crc32c(payload, len) : 0);
	put64(out + 16, epoch);
}

int repl_hdr_decode(const uint8_t in[REPL_HDR_BYTES], struct repl_hdr *h, char *err,
		    size_t errlen)
{
	if (get32(in) != REPL_MAGIC) {
		fs_errf(err, errlen, "bad magic %08" PRIx32 " (not a flashsale replication link)",
			get32(in));
		return -EBADMSG;
	}
	h->type = in[4];
	h->flags = in[5];
	h->shard = (uint16_t)(in[6] | in[7] << 8);
	h->len = get32(in + 8);
	h->crc = get32(in + 12);
	h->epoch = get64(in + 16);
	if (h->type == 0 || h->type > REPL_TYPE_MAX) {
		fs_errf(err, errlen, "unknown frame type %u", h->type);
		return -EBADMSG;
	}
	if (h->len > REPL_PAYLOAD_MAX) {
		fs_errf(err, errlen, "frame type %u: payload %" PRIu32 " bytes > %u", h->type,
			h->len, REPL_PAYLOAD_MAX);
		return -EBADMSG;
	}
	if (h->flags & ~(h->type == REPL_SNAP ? REPL_SNAP_FIRST | REPL_SNAP_LAST : 0u)) {
		fs_errf(err, errlen, "frame type %u: unknown flags %#x", h->type, h->flags);
		return -EBADMSG;
	}
	if (h->type != REPL_RECORDS && h->shard != 0) {
		fs_errf(err, errlen, "frame type %u: shard %u given", h->type, h->shard);
		return -EBADMSG;
	}
	if (h->type == REPL_RECORDS && (h->shard >= FS_WORKERS_MAX || h->len == 0)) {
		fs_errf(err, errlen, "RECORDS frame: shard %u, %" PRIu32 " bytes", h->shard,
			h->len);
		return -EBADMSG;
	}
	return 0;
}

int repl_payload_check(const struct repl_hdr *h, const void *payload)
{
	uint32_t crc = h->len ? wal_crc32c(payload, h->len) : 0;
	return crc == h->crc ? 0 : -EBADMSG;
}

uint32_t repl_hello_encode(void *out, const struct repl_hello *h, bool with_lsn)
{
	uint8_t *p = out;

	FS_ASSERT(h->nshards >= 1 && h->nshards <= FS_WORKERS_MAX);
	put64(p, h->cluster);
	put32(p + 8, h->nshards);
	put32(p + 12, 0);
	if (!with_lsn)
		return 16;
	for (unsigned i = 0; i < h->nshards; i++)
		put64(p + 16 + 8 * i, h->next_lsn[i]);
	return REPL_HELLO_BYTES(h->nshards);
}

int repl_hello_decode(const void *in, uint32_t len, struct repl_hello *h, bool with_lsn)
{
	const uint8_t *p = in;

	memset(h, 0, sizeof(*h));
	if (len < 16)
		return -EBADMSG;
	h->cluster = get64(p);
	h->nshards = get32(p + 8);
	if (h->nshards == 0 || h->nshards > FS_WORKERS_MAX || get32(p + 12) != 0)
		return -EBADMSG;
	if (len != (with_lsn ? REPL_HELLO_BYTES(h->nshards) : 16u))
		return -EBADMSG;
	for (unsigned i = 0; with_lsn && i < h->nshards; i++) {
		h->next_lsn[i] = get64(p + 16 + 8 * i);
		if (h->next_lsn[i] == 0)
			return -EBADMSG;
	}
	return 0;
}

uint32_t repl_ack_encode(void *out, const uint64_t *lsn, unsigned nshards)
{
	for (unsigned i = 0; i < nshards; i++)
		put64((uint8_t *)out + 8 * i, lsn[i]);
	return 8u * nshards;
}

int repl_ack_decode(const void *in, uint32_t len, uint64_t *lsn, unsigned nshards)
{
	if (len != 8u * nshards)
		return -EBADMSG;
	for (unsigned i = 0; i < nshards; i++)
		lsn[i] = get64((const uint8_t *)in + 8 * i);
	return 0;
}

int repl_records_check(const void *payload, uint32_t len, uint64_t expect_lsn, unsigned *n,
		       uint64_t *last, char *err, size_t errlen)
{
	const uint8_t *p = payload;
	uint32_t off = 0;

	*n = 0;
	*last = expect_lsn - 1;
	if (len == 0 || ((uintptr_t)payload & (WAL_REC_ALIGN - 1))) {
		fs_errf(err, errlen, "empty or misaligned records payload");
		return -EBADMSG;
	}
	while (off < len) {
		struct wal_record rec;
		int rc = wal_record_decode(p + off, len - off, &rec);
		if (rc == -ENODATA) {
			fs_errf(err, errlen, "offset %" PRIu32 ": record cut short (%" PRIu32
					     " bytes left)", off, len - off);
			return -EBADMSG;
		}
		if (rc < 0) {
			fs_errf(err, errlen, "offset %" PRIu32 ": invalid record (length, CRC32C, "
					     "padding or type)", off);
			return -EBADMSG;
		}
		if (rec.lsn != expect_lsn) {
			fs_errf(err, errlen, "offset %" PRIu32 ": LSN %" PRIu64 ", expected %" PRIu64
					     " (not contiguous)", off, rec.lsn, expect_lsn);
			return -EBADMSG;
		}
		*last = expect_lsn++;
		(*n)++;
		off += (uint32_t)rc;
	}
	return 0;
}
