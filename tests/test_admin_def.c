/*
 * test_admin_def.c — unit tests of app/fs_admin_def.c: the JSON body of
 * POST /admin/activities and /admin/items into a store_catalog_def, valid
 * bodies with their defaults, and refusals that name the member.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fs_admin.h"

static struct store_catalog_def d;
static char why[192];

static int parse(const char *body, bool act)
{
	why[0] = '\0';
	return fs_admin_parse_def(body, strlen(body), act, &d, why, sizeof(why));
}

static void test_fs_admin_parse_def_activity(void **state)
{
	(void)state;
	assert_int_equal(
		parse(" {\"request_id\": 18446744073709551615, \"activity_id\":7,"
		      "\"name\":\"Double \\\"12\\\" \\\\ \\/\",\"start_ns\":-5,"
		      "\"end_ns\":1796920200000000000,\"pay_timeout_s\":60,"
		      "\"require_token\":true,\"token_key\":\"000102030405060708090A0B0C0D0E0F\","
		      "\"payment_key\":\"f0e0d0c0b0a090807060504030201000\",\"items\":["
		      "{\"item_id\":71,\"total\":5,\"price_cents\":999,\"per_user_limit\":2,"
		      "\"max_per_order\":2},{\"total\":0,\"item_id\":72}]}\n",
		      true),
		0);
	assert_true(d.has_activity);
	assert_int_equal(d.request_id, UINT64_MAX);
	assert_int_equal(d.act.id, 7);
	assert_string_equal(d.act.name, "Double \"12\" \\ /");
	assert_int_equal(d.act.start_ns, -5);
	assert_int_equal(d.act.pay_timeout_s, 60);
	assert_true(d.act.require_token && d.act.has_payment_key);
	assert_int_equal(d.act.token_key[15], 15);
	assert_int_equal(d.act.payment_key[0], 0xf0);
	assert_int_equal(d.n_items, 2);
	assert_int_equal(d.items[0].price_cents, 999);
	assert_int_equal(d.items[0].max_per_order, 2);
	/* defaults */
	assert_int_equal(d.items[1].per_user_limit, 1);
	assert_int_equal(d.items[1].max_per_order, 1);
	assert_int_equal(d.items[1].total, 0);
	assert_int_equal(
		parse("{\"request_id\":1,\"activity_id\":9,\"start_ns\":1,\"end_ns\":2}", true), 0);
	assert_string_equal(d.act.name, "activity 9");
	assert_int_equal(d.act.pay_timeout_s, 900);
	assert_false(d.act.require_token || d.act.has_payment_key);
	assert_int_equal(d.n_items, 0);
}

static void test_fs_admin_parse_def_items(void **state)
{
	(void)state;
	assert_int_equal(parse("{\"activity_id\":3,\"items\":[{\"item_id\":1,\"total\":2}],"
			       "\"request_id\":5}",
			       false),
			 0);
	assert_false(d.has_activity);
	assert_int_equal(d.act.id, 3);
	assert_int_equal(d.n_items, 1);
	/* an items call takes no activity fields, and needs an item */
	assert_int_equal(
		parse("{\"request_id\":5,\"activity_id\":3,\"start_ns\":1,\"items\":[]}", false),
		-EINVAL);
	assert_non_null(strstr(why, "start_ns"));
	assert_int_equal(parse("{\"request_id\":5,\"activity_id\":3,\"items\":[]}", false),
			 -EINVAL);
	assert_non_null(strstr(why, "items"));
}

static void test_fs_admin_parse_def_invalid_names_member(void **state)
{
	static const struct {
		const char *body, *member;
	} cases[] = {
		{"", "JSON object"},
		{"[]", "JSON object"},
		{"{\"activity_id\":1,\"start_ns\":1,\"end_ns\":2}", "request_id"},
		{"{\"request_id\":0,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2}", "request_id"},
		{"{\"request_id\":1,\"start_ns\":1,\"end_ns\":2}", "activity_id"},
		{"{\"request_id\":1,\"activity_id\":4294967296,\"start_ns\":1,\"end_ns\":2}",
		 "activity_id"},
		{"{\"request_id\":1,\"activity_id\":1,\"end_ns\":2}", "start_ns"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1.5,\"end_ns\":2}", "start_ns"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":\"1\",\"end_ns\":2}",
		 "start_ns"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,\"colour\":1}",
		 "colour"},
		{"{\"request_id\":1,\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":"
		 "2}",
		 "request_id"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"require_token\":true}",
		 "token_key"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"require_token\":1}",
		 "require_token"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"token_key\":\"0011\"}",
		 "token_key"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"payment_key\":\"zz0102030405060708090a0b0c0d0e0f\"}",
		 "payment_key"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"name\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
		 "name"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"name\":\"a\\nb\"}",
		 "name"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,\"items\":{}}",
		 "items"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"items\":[{\"total\":1}]}",
		 "items[0].item_id"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"items\":[{\"item_id\":1,\"total\":1},{\"item_id\":2}]}",
		 "items[1].total"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"items\":[{\"item_id\":1,\"total\":1,\"max_per_order\":65536}]}",
		 "items[0].max_per_order"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"items\":[{\"item_id\":1,\"total\":-1}]}",
		 "items[0].total"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
		 "\"items\":[{\"item_id\":1,\"total\":1,\"colour\":2}]}",
		 "colour"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2} x", "trailing"},
		{"{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,}",
		 "member name"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].body, true) != -EINVAL)
			fail_msg("accepted: %s", cases[i].body);
		if (!strstr(why, cases[i].member))
			fail_msg("%s: answer \"%s\" does not name %s", cases[i].body, why,
				 cases[i].member);
	}
}

static void test_fs_admin_parse_def_too_many_items(void **state)
{
	static char body[16384];
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(body + n, sizeof(body) - n,
			      "{\"request_id\":1,\"activity_id\":1,\"start_ns\":1,\"end_ns\":2,"
			      "\"items\":[");
	for (unsigned k = 0; k <= STORE_DEFINE_ITEMS_MAX; k++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s{\"item_id\":%u,\"total\":1}",
				      k ? "," : "", k + 1);
	snprintf(body + n, sizeof(body) - n, "]}");
	assert_int_equal(parse(body, true), -EINVAL);
	assert_non_null(strstr(why, "at most 64 items"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_admin_parse_def_activity),
		cmocka_unit_test(test_fs_admin_parse_def_items),
		cmocka_unit_test(test_fs_admin_parse_def_invalid_names_member),
		cmocka_unit_test(test_fs_admin_parse_def_too_many_items),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
