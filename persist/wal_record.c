/*
 * wal_record.c — the write-ahead log's record codec: byte layout, CRC32C,
 * the change payload. Pure functions over caller buffers: no I/O.
 *
 * RECORD FORMAT (all integers little-endian, every record starts at a
 * multiple of 8 bytes from the start of its segment)
 *
 *   offset size
 *     0     4   len     payload length in bytes, 1..WAL_PAYLOAD_MAX (4096)
 *     4     4   crc     CRC32C over bytes 8 .. 24+len-1 (lsn, type, the 7
 *                       reserved bytes and the payload); CRC32C as in iSCSI:
 *                       initial value ~0, final xor ~0 (rte_hash_crc gives
 *                       the raw register, wal_crc32c adds the inversions)
 *     8     8   lsn     >= 1
 *    16     1   type    1 = change (WAL_REC_CHANGE), 2 = admin (WAL_REC_ADMIN)
 *    17     7   zero    reserved, must be zero
 *    24   len   payload
 *  24+len   p   zero    padding to the next multiple of 8 (0..7 bytes),
 *                       must be zero; not covered by the CRC
 *
 * Payload of a change record (type 1), exactly 48 bytes, the fields of
 * struct store_change encoded one by one (no struct is ever written raw):
 *
 *     0     8   order_id
 *     8     8   user_id
 *    16     8   request_id   (0 for EXPIRE)
 *    24     8   ref          (CONFIRM payment reference)
 *    32     8   time_ns      (int64, two's complement)
 *    40     4   item_id
 *    44     2   qty
 *    46     1   type         enum store_change_type, 1..6
 *    47     1   zero         reserved
 *
 * Types 5 (STOCK) and 6 (WINDOW) are admin changes carried in the same 48
 * bytes (store.h names the fields): STOCK item_id, order_id = total
 * before, ref = total after, user_id = the delta asked for, request_id =
 * the admin request_id; WINDOW user_id = activity_id, order_id = start_ns,
 * ref = end_ns, request_id. STOCK goes in the item's owner shard's log (in
 * order with its BUYs), WINDOW in shard 0's.
 *
 * so a change record is 24 + 48 = 72 bytes.
 *
 * An admin record (type 2) has a payload of up to WAL_PAYLOAD_MAX bytes
 * whose byte 0 is its kind. Kind 1 (WAL_ADMIN_CATALOG) is a catalog
 * definition (struct store_catalog_def: an activity with its items, or items
 * added to an activity), journalled in shard 0's log only, as ONE record so
 * that replay recreates all of it or nothing:
 *
 *     0     1   kind         1
 *     1     1   flags        bit 0 has_activity, bit 1 require_token,
 *                            bit 2 has_payment_key; other bits zero
 *     2     2   n_items      0..STORE_DEFINE_ITEMS_MAX (64)
 *     4     4   activity_id
 *     8     8   request_id   the admin call's (idempotency)
 *    16     8   time_ns      decision time (steady clock)
 *    24     8   start_ns     the activity's window (int64; zero without
 *    32     8   end_ns         an activity, as every activity field)
 *    40     4   pay_timeout_s
 *    44     4   zero
 *    48    16   token_key
 *    64    16   payment_key
 *    80    64   name         NUL padded, at most 63 bytes
 *   144  32*n   items: id u32, total u32, per_user_limit u32,
 *               max_per_order u16, zero u16, price_cents u64, zero 8
 *
 * wal_replay hands admin records only to a caller that reads them
 * (wal_replay_ex); others get -ENOTSUP rather than skip a state change.
 * Recovery applies shard 0's catalog records before any shard replays its
 * changes (persist/recover.c): a BUY of a new item in shard 3's log always
 * comes after its definition was durable in shard 0's.
 *
 * CHECKSUMS: rte_hash_crc() from <rte_hash_crc.h> (header-inline CRC32C with
 * the SSE4.2 crc32 instruction). It needs no EAL initialisation: an
 * RTE_INIT constructor picks the instruction set via cpuid
 * (rte_cpu_get_flag_enabled, in librte_eal, which is linked); without it the
 * software table, also CRC32C, is used. It reads 8 bytes at a time through
 * a uint64_t pointer, so records are kept 8-byte aligned.
 */
#include "wal_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_hash_crc.h>

_Static_assert(WAL_REC_HDR_BYTES == 24, "record header layout");
_Static_assert(WAL_CHANGE_BYTES == 8 * 5 + 4 + 2 + 1 + 1, "change payload layout");
_Static_assert(WAL_CHANGE_RECORD_BYTES == 72, "change record size");
_Static_assert(WAL_CHANGE_RECORD_BYTES % WAL_REC_ALIGN == 0, "change records need no padding");
_Static_assert(WAL_RECORD_MAX % WAL_REC_ALIGN == 0, "largest record is aligned");
_Static_assert(sizeof(struct store_change) == 48,
	       "struct store_change changed: update wal_change_encode/decode and the format");

/* ------------------------------------------------------------------ */
/* Little-endian fields, CRC, records                                  */
/* ------------------------------------------------------------------ */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

uint32_t wal_crc32c(const void *data, size_t len)
{
	FS_ASSERT(((uintptr_t)data & 7) == 0);
	FS_ASSERT(len <= UINT32_MAX);
	return ~rte_hash_crc(data, (uint32_t)len, 0xffffffffu);
}

static bool rec_type_known(uint8_t type)
{
	return type == WAL_REC_CHANGE || type == WAL_REC_ADMIN;
}

int wal_record_encode(void *buf, size_t cap, uint64_t lsn, uint8_t type, const void *payload,
		      uint32_t len)
{
	uint8_t *p = buf;
	size_t size = wal_record_size(len);

	if (lsn == 0 || !rec_type_known(type) || len == 0 || len > WAL_PAYLOAD_MAX ||
	    (type == WAL_REC_CHANGE && len != WAL_CHANGE_BYTES))
		return -EINVAL;
	if (size > cap)
		return -ENOBUFS;
	FS_ASSERT(((uintptr_t)buf & (WAL_REC_ALIGN - 1)) == 0);
	put_le32(p, len);
	put_le64(p + 8, lsn);
	p[16] = type;
	memset(p + 17, 0, 7);
	memcpy(p + WAL_REC_HDR_BYTES, payload, len);
	memset(p + WAL_REC_HDR_BYTES + len, 0, size - WAL_REC_HDR_BYTES - len);
	put_le32(p + 4, wal_crc32c(p + 8, 16 + (size_t)len));
	return (int)size;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* wal_record_decode with the reason for a refusal in *why. */
int wal_rec_decode(const uint8_t *p, size_t avail, struct wal_record *out, const char **why)
{
	uint32_t len;
	size_t size;

	if (avail < WAL_REC_HDR_BYTES) {
		*why = "record header cut short";
		return -ENODATA;
	}
	len = get_le32(p);
	if (len == 0 || len > WAL_PAYLOAD_MAX) {
		*why = "bad record length";
		return -EBADMSG;
	}
	size = wal_record_size(len);
	if (size > avail) {
		*why = "record cut short";
		return -ENODATA;
	}
	if (wal_crc32c(p + 8, 16 + (size_t)len) != get_le32(p + 4)) {
		*why = "bad CRC";
		return -EBADMSG;
	}
	if (!all_zero(p + 17, 7) ||
	    !all_zero(p + WAL_REC_HDR_BYTES + len, size - WAL_REC_HDR_BYTES - len)) {
		*why = "nonzero reserved or padding bytes";
		return -EBADMSG;
	}
	if (!rec_type_known(p[16]) || (p[16] == WAL_REC_CHANGE && len != WAL_CHANGE_BYTES)) {
		*why = "unknown record type or bad length for its type";
		return -EBADMSG;
	}
	if (get_le64(p + 8) == 0) {
		*why = "LSN 0";
		return -EBADMSG;
	}
	out->lsn = get_le64(p + 8);
	out->type = p[16];
	out->len = len;
	out->payload = p + WAL_REC_HDR_BYTES;
	return (int)size;
}

int wal_record_decode(const void *buf, size_t avail, struct wal_record *out)
{
	const char *why;

	return wal_rec_decode(buf, avail, out, &why);
}

void wal_change_encode(uint8_t out[WAL_CHANGE_BYTES], const struct store_change *ch)
{
	/* An unknown change type is the shard's bug, never bad input. */
	FS_ASSERT(ch->type >= STORE_CH_RESERVE && ch->type <= STORE_CH_WINDOW);
	put_le64(out + 0, ch->order_id);
	put_le64(out + 8, ch->user_id);
	put_le64(out + 16, ch->request_id);
	put_le64(out + 24, ch->ref);
	put_le64(out + 32, (uint64_t)ch->time_ns);
	put_le32(out + 40, ch->item_id);
	put_le16(out + 44, ch->qty);
	out[46] = ch->type;
	out[47] = 0;
}

int wal_change_decode(const uint8_t in[WAL_CHANGE_BYTES], struct store_change *ch)
{
	if (in[46] < STORE_CH_RESERVE || in[46] > STORE_CH_WINDOW || in[47] != 0)
		return -EBADMSG;
	memset(ch, 0, sizeof(*ch));
	ch->order_id = get_le64(in + 0);
	ch->user_id = get_le64(in + 8);
	ch->request_id = get_le64(in + 16);
	ch->ref = get_le64(in + 24);
	ch->time_ns = (int64_t)get_le64(in + 32);
	ch->item_id = get_le32(in + 40);
	ch->qty = get_le16(in + 44);
	ch->type = in[46];
	return 0;
}

/* ---- catalog definitions (admin record kind 1) ---- */

int wal_catalog_encode(uint8_t *out, size_t cap, const struct store_catalog_def *def)
{
	size_t len = WAL_CATALOG_HDR_BYTES + (size_t)def->n_items * WAL_CATALOG_ITEM_BYTES;
	const struct cfg_activity *a = &def->act;
	uint8_t flags = 0;

	if (def->n_items > STORE_DEFINE_ITEMS_MAX)
		return -EINVAL;
	if (len > cap)
		return -ENOBUFS;
	memset(out, 0, len);
	if (def->has_activity)
		flags = (uint8_t)(1u | (a->require_token ? 2u : 0u) |
				  (a->has_payment_key ? 4u : 0u));
	out[0] = WAL_ADMIN_CATALOG;
	out[1] = flags;
	put_le16(out + 2, (uint16_t)def->n_items);
	put_le32(out + 4, a->id);
	put_le64(out + 8, def->request_id);
	put_le64(out + 16, (uint64_t)def->time_ns);
	if (def->has_activity) {
		put_le64(out + 24, (uint64_t)a->start_ns);
		put_le64(out + 32, (uint64_t)a->end_ns);
		put_le32(out + 40, a->pay_timeout_s);
		memcpy(out + 48, a->token_key, 16);
		memcpy(out + 64, a->payment_key, 16);
		memcpy(out + 80, a->name, strnlen(a->name, 63));
	}
	for (uint32_t k = 0; k < def->n_items; k++) {
		uint8_t *p = out + WAL_CATALOG_HDR_BYTES + (size_t)k * WAL_CATALOG_ITEM_BYTES;
		const struct store_item_def *d = &def->items[k];
		put_le32(p, d->id);
		put_le32(p + 4, d->total);
		put_le32(p + 8, d->per_user_limit);
		put_le16(p + 12, d->max_per_order);
		put_le64(p + 16, d->price_cents);
	}
	return (int)len;
}

int wal_catalog_decode(const uint8_t *in, uint32_t len, struct store_catalog_def *def)
{
	uint32_t n;

	if (len < WAL_CATALOG_HDR_BYTES || in[0] != WAL_ADMIN_CATALOG || (in[1] & ~7u) ||
	    (!(in[1] & 1u) && in[1]))
		return -EBADMSG;
	n = get_le16(in + 2);
	if (n > STORE_DEFINE_ITEMS_MAX ||
	    len != WAL_CATALOG_HDR_BYTES + n * WAL_CATALOG_ITEM_BYTES || !all_zero(in + 44, 4) ||
	    in[80 + 63] != 0)
		return -EBADMSG;
	memset(def, 0, sizeof(*def));
	def->has_activity = in[1] & 1u;
	def->act.id = get_le32(in + 4);
	def->request_id = get_le64(in + 8);
	def->time_ns = (int64_t)get_le64(in + 16);
	def->n_items = n;
	if (def->has_activity) {
		def->act.require_token = in[1] & 2u;
		def->act.has_payment_key = in[1] & 4u;
		def->act.start_ns = (int64_t)get_le64(in + 24);
		def->act.end_ns = (int64_t)get_le64(in + 32);
		def->act.pay_timeout_s = get_le32(in + 40);
		memcpy(def->act.token_key, in + 48, 16);
		memcpy(def->act.payment_key, in + 64, 16);
		memcpy(def->act.name, in + 80, 63);
		if (!all_zero(in + 80 + strnlen(def->act.name, 63),
			      64 - strnlen(def->act.name, 63)))
			return -EBADMSG; /* NUL padded: one spelling per name */
	} else if (!all_zero(in + 24, WAL_CATALOG_HDR_BYTES - 24)) {
		return -EBADMSG;
	}
	for (uint32_t k = 0; k < n; k++) {
		const uint8_t *p = in + WAL_CATALOG_HDR_BYTES + (size_t)k * WAL_CATALOG_ITEM_BYTES;
		if (!all_zero(p + 14, 2) || !all_zero(p + 24, 8))
			return -EBADMSG;
		def->items[k] = (struct store_item_def){.id = get_le32(p),
							.total = get_le32(p + 4),
							.per_user_limit = get_le32(p + 8),
							.max_per_order = get_le16(p + 12),
							.price_cents = get_le64(p + 16)};
	}
	return 0;
}
