/*
 * dp_http_json.c — a strict, allocation-free reader for the small JSON
 * request bodies of HTTP-API.md (at most DP_HTTP_BODY_MAX bytes).
 *
 * Why hand-written: the bodies are one flat object of a few integers and one
 * hex string. Debian's JSON libraries (jansson, json-c, cJSON, yajl) build a
 * tree on the heap or, for yajl's callbacks, allocate its state; none of
 * them reports an integer above INT64_MAX exactly, and ids go up to 2^64−1.
 * A single pass over the bytes with a bounded depth counter needs neither.
 *
 * Grammar: RFC 8259, strictly. The text is one object, optionally surrounded
 * by the four JSON whitespace bytes, and nothing after it. Strings must be
 * valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF),
 * contain no raw control characters, and use only the eight escapes and
 * \uXXXX (a \u surrogate must pair). Numbers follow the JSON grammar (no
 * leading zeros, no '+', no bare '.', no hex); numbers in members we do not
 * read may be of any size. Nesting deeper than DP_JSON_DEPTH_MAX is
 * rejected, so the skipper needs only a 64-bit stack of "object or array".
 *
 * Wanted fields: a DP_JSON_U64 member must be a bare integer (a '-', a
 * fraction or an exponent is out of range/wrong type even when the value is
 * integral: "1.0" is a float), at most field->max; 2^64 and beyond is out of
 * range. A DP_JSON_TOKEN member is a string of exactly 32 hex digits (either
 * case; escapes are decoded first). null is a wrong type. A wanted field given
 * twice is rejected (DP_JSON_DUPLICATE) rather than "last one wins": a
 * CDN, a WAF and this appliance must never read two different requests out of
 * one body. Duplicates among unknown members are not tracked (they are
 * ignored like any unknown member). Member names are compared after escape
 * decoding, exactly (case-sensitive).
 *
 * The first error found is returned; the whole text is still required to be
 * well-formed only up to that point (an early type error wins over a later
 * syntax error), which is enough: either is a 400.
 */
#include <errno.h>
#include <string.h>

#include "dp_http.h"
#include "fs_common.h"

#define KEY_MAX 32 /* longer member names cannot be wanted ones */
#define STR_MAX 64 /* decoded string values we keep (tokens are 32) */

struct jr {
	const char *p, *end;
};

static bool is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static void skip_ws(struct jr *r)
{
	while (r->p < r->end && is_ws(*r->p))
		r->p++;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Four hex digits of a \u escape; -1 if malformed. */
static int read_u4(struct jr *r)
{
	int v = 0;

	if (r->end - r->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(r->p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	r->p += 4;
	return v;
}

/* Append code point cp as UTF-8 to out (dropped beyond cap, counted in *len). */
static void put_utf8(uint32_t cp, char *out, size_t cap, size_t *len)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	for (size_t i = 0; i < n; i++, (*len)++)
		if (*len < cap)
			out[*len] = b[i];
}

/* One escape after the backslash; appends its decoding. 0 or -1. */
static int read_escape(struct jr *r, char *out, size_t cap, size_t *len)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	int cp, lo;

	if (r->p >= r->end)
		return -1;
	e = memchr(from, *r->p, sizeof(from) - 1);
	if (e) {
		r->p++;
		put_utf8((uint8_t)to[e - from], out, cap, len);
		return 0;
	}
	if (*r->p++ != 'u' || (cp = read_u4(r)) < 0)
		return -1;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return -1; /* a lone low surrogate */
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
			return -1;
		r->p += 2;
		lo = read_u4(r);
		if (lo < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	put_utf8((uint32_t)cp, out, cap, len);
	return 0;
}

/* One raw UTF-8 sequence starting at a byte >= 0x80; appends it. 0 or -1. */
static int read_utf8(struct jr *r, char *out, size_t cap, size_t *len)
{
	const uint8_t *s = (const uint8_t *)r->p;
	size_t avail = (size_t)(r->end - r->p), n;
	uint32_t cp, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2, cp = s[0] & 0x1fu, min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3, cp = s[0] & 0x0fu, min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4, cp = s[0] & 0x07u, min = 0x10000;
	} else {
		return -1;
	}
	if (avail < n)
		return -1;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	for (size_t i = 0; i < n; i++, (*len)++)
		if (*len < cap)
			out[*len] = (char)s[i];
	r->p += n;
	return 0;
}

/* A string at r->p (the opening quote); its decoding goes to out (first cap
 * bytes kept), its full decoded length to *len. 0 or -DP_JSON_MALFORMED. */
static int read_string(struct jr *r, char *out, size_t cap, size_t *len)
{
	*len = 0;
	if (r->p >= r->end || *r->p != '"')
		return -DP_JSON_MALFORMED;
	r->p++;
	while (r->p < r->end) {
		uint8_t ch = (uint8_t)*r->p;
		int rc = 0;

		if (ch == '"') {
			r->p++;
			return 0;
		}
		if (ch < 0x20)
			return -DP_JSON_MALFORMED;
		if (ch == '\\') {
			r->p++;
			rc = read_escape(r, out, cap, len);
		} else if (ch >= 0x80) {
			rc = read_utf8(r, out, cap, len);
		} else {
			if (*len < cap)
				out[*len] = (char)ch;
			(*len)++;
			r->p++;
		}
		if (rc)
			return -DP_JSON_MALFORMED;
	}
	return -DP_JSON_MALFORMED;
}

/* A number at r->p by the JSON grammar. *plain: no sign, fraction or
 * exponent; *val, *overflow: its value when plain. 0 or -DP_JSON_MALFORMED. */
static int read_number(struct jr *r, bool *plain, uint64_t *val, bool *overflow)
{
	const char *p = r->p, *end = r->end;
	uint64_t v = 0;

	*plain = true;
	*overflow = false;
	if (p < end && *p == '-') {
		*plain = false;
		p++;
	}
	if (p >= end || *p < '0' || *p > '9')
		return -DP_JSON_MALFORMED;
	if (*p == '0') {
		p++;
	} else {
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			unsigned d = (unsigned)(*p - '0');
			if (v > (UINT64_MAX - d) / 10)
				*overflow = true;
			else
				v = v * 10 + d;
		}
	}
	if (p < end && *p == '.') {
		*plain = false;
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return -DP_JSON_MALFORMED;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*plain = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -DP_JSON_MALFORMED;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	r->p = p;
	*val = v;
	return 0;
}

static int read_literal(struct jr *r, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
		return -DP_JSON_MALFORMED;
	r->p += n;
	return 0;
}

/* Any scalar at r->p (string, number, literal), validated and dropped. */
static int skip_scalar(struct jr *r)
{
	char sink[1];
	size_t len;
	bool plain, ovf;
	uint64_t v;

	if (r->p >= r->end)
		return -DP_JSON_MALFORMED;
	switch (*r->p) {
	case '"': return read_string(r, sink, 0, &len);
	case 't': return read_literal(r, "true");
	case 'f': return read_literal(r, "false");
	case 'n': return read_literal(r, "null");
	default: return read_number(r, &plain, &v, &ovf);
	}
}

/* Any value at r->p, containers included, validated and dropped. The depth
 * of the enclosing object is 1; a stack bit per level says object (1) or
 * array (0). */
static int skip_value(struct jr *r)
{
	uint64_t stack = 0;
	unsigned depth = 0;
	int rc;

	for (;;) {
		skip_ws(r);
		if (r->p >= r->end)
			return -DP_JSON_MALFORMED;
		if (*r->p == '{' || *r->p == '[') {
			if (depth + 2 > DP_JSON_DEPTH_MAX)
				return -DP_JSON_DEPTH;
			stack = (stack << 1) | (*r->p == '{');
			depth++;
			r->p++;
			skip_ws(r);
			if (r->p < r->end && *r->p == ((stack & 1) ? '}' : ']')) {
				r->p++;
				stack >>= 1;
				depth--;
				goto closed;
			}
			if (stack & 1)
				goto key;
			continue; /* the array's first value */
		}
		if ((rc = skip_scalar(r)) != 0)
			return rc;
	closed:
		/* After a value: close containers or move to the next element. */
		for (;;) {
			if (depth == 0)
				return 0;
			skip_ws(r);
			if (r->p >= r->end)
				return -DP_JSON_MALFORMED;
			if (*r->p == ',') {
				r->p++;
				if (stack & 1)
					goto key;
				break; /* next array element */
			}
			if (*r->p != ((stack & 1) ? '}' : ']'))
				return -DP_JSON_MALFORMED;
			r->p++;
			stack >>= 1;
			depth--;
		}
		continue;
	key:
		skip_ws(r);
		{
			char sink[1];
			size_t len;
			if ((rc = read_string(r, sink, 0, &len)) != 0)
				return rc;
		}
		skip_ws(r);
		if (r->p >= r->end || *r->p != ':')
			return -DP_JSON_MALFORMED;
		r->p++;
	}
}

static int read_wanted(struct jr *r, struct dp_json_field *f)
{
	char s[STR_MAX];
	size_t len;
	bool plain, ovf;
	uint64_t v;
	int rc;

	if (f->seen)
		return -DP_JSON_DUPLICATE;
	f->seen = true;
	if (r->p >= r->end)
		return -DP_JSON_MALFORMED;
	if (f->kind == DP_JSON_U64) {
		if (*r->p != '-' && (*r->p < '0' || *r->p > '9')) {
			rc = skip_value(r);
			return rc ? rc : -DP_JSON_TYPE;
		}
		if ((rc = read_number(r, &plain, &v, &ovf)) != 0)
			return rc;
		if (!plain || ovf || v > f->max)
			return -DP_JSON_RANGE;
		f->u64 = v;
		return 0;
	}
	if (*r->p != '"') {
		rc = skip_value(r);
		return rc ? rc : -DP_JSON_TYPE;
	}
	if ((rc = read_string(r, s, sizeof(s), &len)) != 0)
		return rc;
	if (len != 2 * FSP_TOKEN_LEN)
		return -DP_JSON_TOKEN_FORMAT;
	for (size_t i = 0; i < FSP_TOKEN_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -DP_JSON_TOKEN_FORMAT;
		f->token[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static struct dp_json_field *find_field(struct dp_json_field *fields, unsigned n, const char *key,
					size_t len)
{
	if (len >= KEY_MAX)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if (strlen(fields[i].name) == len && memcmp(fields[i].name, key, len) == 0)
			return &fields[i];
	return NULL;
}

static int read_members(struct jr *r, struct dp_json_field *fields, unsigned n)
{
	char key[KEY_MAX];
	size_t klen;
	int rc;

	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		struct dp_json_field *f;

		skip_ws(r);
		if ((rc = read_string(r, key, sizeof(key), &klen)) != 0)
			return rc;
		skip_ws(r);
		if (r->p >= r->end || *r->p != ':')
			return -DP_JSON_MALFORMED;
		r->p++;
		skip_ws(r);
		f = find_field(fields, n, key, klen);
		rc = f ? read_wanted(r, f) : skip_value(r);
		if (rc)
			return rc;
		skip_ws(r);
		if (r->p >= r->end)
			return -DP_JSON_MALFORMED;
		if (*r->p == '}') {
			r->p++;
			return 0;
		}
		if (*r->p++ != ',')
			return -DP_JSON_MALFORMED;
	}
}

int dp_json_read(const char *buf, size_t len, struct dp_json_field *fields, unsigned n)
{
	struct jr r = {buf, buf + len};
	int rc;

	for (unsigned i = 0; i < n; i++) {
		FS_ASSERT(strlen(fields[i].name) < KEY_MAX);
		fields[i].seen = false;
	}
	skip_ws(&r);
	if (r.p >= r.end || *r.p != '{')
		return -DP_JSON_MALFORMED;
	r.p++;
	if ((rc = read_members(&r, fields, n)) != 0)
		return rc;
	skip_ws(&r);
	if (r.p != r.end)
		return -DP_JSON_MALFORMED;
	for (unsigned i = 0; i < n; i++)
		if (fields[i].required && !fields[i].seen)
			return -DP_JSON_MISSING;
	return 0;
}

const char *dp_json_err_name(int err)
{
	static const char *const names[] = {
		[DP_JSON_OK] = "ok",
		[DP_JSON_MALFORMED] = "malformed JSON",
		[DP_JSON_DEPTH] = "JSON nested too deeply",
		[DP_JSON_TYPE] = "field of the wrong type",
		[DP_JSON_RANGE] = "field out of range",
		[DP_JSON_TOKEN_FORMAT] = "token is not 32 hex digits",
		[DP_JSON_DUPLICATE] = "field given twice",
		[DP_JSON_MISSING] = "required field missing",
	};
	unsigned e = (unsigned)(err < 0 ? -err : err);

	return e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}
