/*
 * cfg_lex.c — the INI lexer: text to section headers and key/value pairs.
 *
 * Syntax
 *   The text is cut into lines of at most CFG_LINE_MAX_BYTES bytes ("\r\n"
 *   is accepted; a NUL byte is an error). A line is blank, a comment (first
 *   non-blank character ';' or '#'), a section header "[name]" (optionally
 *   followed by a comment) or "key = value". A value ends at an inline
 *   comment: a ';' that starts the value or follows a blank. Whitespace
 *   (spaces and tabs) around section names, keys and values is trimmed. A
 *   '#' inside a value is kept, so "name = Lot #7" means what it says.
 *
 * The lexer knows no section or key: it hands each header name to
 * cfg_open_section (cfg.c) and each pair to cfg_schema_key (cfg_schema.c),
 * keeping L->line current so that every message names the line. Each line
 * is copied into a stack buffer and cut there, so the caller's text is never
 * written and needs no terminating NUL.
 */
#include "cfg_internal.h"

#include <errno.h>
#include <string.h>

char *cfg_lex_skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return (char *)s;
}

static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static char *trim(char *s)
{
	s = cfg_lex_skip_ws(s);
	rtrim(s);
	return s;
}

void cfg_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

int cfg_lex_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	*out = v;
	return over ? -ERANGE : 0;
}

/* Cuts an inline comment: a ';' that starts the value or follows a blank. */
static void strip_comment(char *v)
{
	for (char *p = v; *p; p++) {
		if (*p == ';' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

/* s starts with '['. */
static int lex_header(struct loader *L, char *s)
{
	char *close = strchr(s, ']');
	char *rest, *name;

	if (!close)
		return cfg_fail(L, L->line, NULL, NULL, "section header without a closing ']'");
	*close = '\0';
	name = trim(s + 1);
	cfg_copy_str(L->sec_name, sizeof L->sec_name, name);
	rest = cfg_lex_skip_ws(close + 1);
	if (*rest && *rest != ';' && *rest != '#')
		return cfg_fail(L, L->line, L->sec_name, NULL, "unexpected text after ']'");
	return cfg_open_section(L, name);
}

static int lex_line(struct loader *L, char *s)
{
	const char *sec = L->kind == SEC_NONE ? NULL : L->sec_name;
	char *eq, *key, *val;

	s = cfg_lex_skip_ws(s);
	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (*s == '[')
		return lex_header(L, s);
	eq = strchr(s, '=');
	if (!eq)
		return cfg_fail(L, L->line, sec, NULL, "expected [section] or key = value");
	*eq = '\0';
	key = trim(s);
	if (*key == '\0')
		return cfg_fail(L, L->line, sec, NULL,
				"expected [section] or key = value (no key before '=')");
	val = cfg_lex_skip_ws(eq + 1);
	strip_comment(val);
	rtrim(val);
	return cfg_schema_key(L, key, val);
}

int cfg_lex_text(struct loader *L, const char *text, size_t len)
{
	char buf[CFG_LINE_MAX_BYTES + 1];
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *sec = L->kind == SEC_NONE ? NULL : L->sec_name;
		int rc;

		L->line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CFG_LINE_MAX_BYTES)
			return cfg_fail(L, L->line, sec, NULL, "line longer than %d bytes",
					CFG_LINE_MAX_BYTES);
		if (memchr(p, '\0', n))
			return cfg_fail(L, L->line, sec, NULL, "the line holds a NUL byte");
		memcpy(buf, p, n);
		buf[n] = '\0';
		rc = lex_line(L, buf);
		if (rc)
			return rc;
		p = nl ? nl + 1 : end;
	}
	return 0;
}
