/* hello.c: smash-emu from C over the line transport (serve --unix PATH). */
#include <inttypes.h>
#include <stdio.h>
#include "smash_emu.h"

static void on_event(void *arg, const char *topic, uint64_t at_ns, json_t *data)
{
	(void)arg;
	printf("event %s at %" PRIu64 " ns: %s\n", topic, at_ns, json_string_value(json_object_get(data, "commandName")));
}

int main(int argc, char **argv)
{
	smash_emu *e = smash_emu_connect(argc > 1 ? argv[1] : "/tmp/smash-emu.sock");
	if (e == NULL || smash_emu_attach(e, argc > 2 ? argv[2] : "hello") != 0)
		return 1;
	uint64_t spa, word = 0, now;
	smash_emu_mem_alloc(e, 1, &spa);
	smash_emu_mem_write64(e, spa, (uint64_t[]){ 0x1234 }, 1);
	smash_emu_mem_read64(e, spa, &word, 1);
	printf("mem.read64: 0x%" PRIx64 "\n", word);

	const char *topics[] = { "tmpm", NULL };
	smash_emu_subscribe(e, topics, on_event, NULL, NULL, 0);
	json_t *r;
	int rc = smash_emu_callf(e, &r, "tmpm.submit", "{s:i, s:o}", "command", 1, "listSpa", smash_emu_hex_json(spa));
	printf("tmpm.submit: %d %s\n", rc, json_string_value(json_object_get(r, "statusName")));
	json_decref(r);

	uint32_t status;
	smash_emu_tmpm_read(e, 0x1c, &status);
	smash_emu_clock_advance(e, 1000, &now);
	printf("STATUS 0x%08x, now %" PRIu64 " ns\n", status, now);
	rc = smash_emu_callf(e, NULL, "mem.read64", "{s:s, s:i}", "spa", "0x1", "count", 1);
	printf("error %d: %s\n", rc, smash_emu_error(e));
	smash_emu_close(e);
	return 0;
}
