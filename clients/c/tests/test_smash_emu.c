/*
 * Tests of the C client and the kernel shim against a running server
 * (test/examples/c-client.test.ts runs it): TAP-style "ok N - what" lines, exit 1
 * on the first failure.
 *
 *   test_smash_emu SOCKET PLATFORM
 */
#define SMASH_KERNEL_IMPL
#include "smash_kernel.h"

#include <inttypes.h>

static int test_no;
static smash_emu *e;

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			printf("not ok %d - ", test_no + 1);                                \
			printf(__VA_ARGS__);                                                \
			printf(" (%s:%d: %s; last error: %s)\n", __FILE__, __LINE__, #cond, smash_emu_error(e)); \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

static void pass(const char *what)
{
	printf("ok %d - %s\n", ++test_no, what);
}

static int irqs_seen;
static irqreturn_t count_irq(int irq, void *dev_id)
{
	(void)irq;
	(void)dev_id;
	irqs_seen++;
	return IRQ_HANDLED;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_smash_emu SOCKET PLATFORM\n");
		return 2;
	}
	e = smash_emu_connect(argv[1]);
	if (e == NULL) {
		perror("connect");
		return 1;
	}
	CHECK(smash_emu_attach(e, argv[2]) == 0, "attach");
	CHECK(smash_emu_attach(e, "again") == -32002, "a second session.attach is refused");
	pass("session.attach: first call only (-32002 after)");

	/* Errors: code, message with the issue, data. */
	CHECK(smash_emu_callf(e, NULL, "mem.read64", "{s:s, s:i}", "spa", "0x1", "count", 1) == -32602, "misaligned read");
	CHECK(strstr(smash_emu_error(e), "spa: must be 8-byte-aligned") != NULL, "message names the key: %s", smash_emu_error(e));
	json_t *issues = json_object_get(smash_emu_error_data(e), "issues");
	CHECK(json_array_size(issues) == 1, "data.issues");
	CHECK(smash_emu_call(e, "no.such", NULL, NULL) == -32601, "unknown method");
	pass("errors: JSON-RPC code, message, data.issues");

	/* Memory, more words than one call takes. */
	uint64_t spa;
	CHECK(smash_emu_mem_alloc(e, 160, &spa) == 0, "mem.alloc");
	size_t n = 160 * 512;
	uint64_t *words = malloc(n * 8), *back = calloc(n, 8);
	for (size_t i = 0; i < n; i++)
		words[i] = i * 0x9e3779b97f4a7c15ULL;
	CHECK(smash_emu_mem_write64(e, spa, words, n) == 0, "mem.write64 of %zu words", n);
	CHECK(smash_emu_mem_read64(e, spa, back, n) == 0, "mem.read64");
	CHECK(memcmp(words, back, n * 8) == 0, "the words read back");
	CHECK(smash_emu_mem_free(e, spa, 160) == 0, "mem.free");
	free(words);
	free(back);
	pass("mem.alloc / write64 / read64 / free, 81,920 words (split into calls of 65,536)");

	/* The mirror: local writes reach the emulator at push, the device's at pull. */
	CHECK(smash_emu_mem_alloc(e, 2, &spa) == 0, "mem.alloc");
	uint64_t *local = smash_emu_mirror_map(e, spa, 2);
	CHECK(local != NULL, "mirror_map");
	CHECK(smash_emu_mirror_spa(e, &local[513]) == spa + 513 * 8, "mirror_spa");
	CHECK(smash_emu_mirror_local(e, spa + 4096) == (void *)&local[512], "mirror_local");
	local[3] = 0xabcdef;
	uint64_t w = 1;
	CHECK(smash_emu_mem_read64(e, spa + 24, &w, 1) == 0 && w == 0, "not written before the push");
	CHECK(smash_emu_mirror_push(e) == 0, "push");
	CHECK(smash_emu_mem_read64(e, spa + 24, &w, 1) == 0 && w == 0xabcdef, "written at the push: 0x%" PRIx64, w);
	uint64_t dev[2] = { 0x1111, 0x2222 };
	CHECK(smash_emu_mem_write64(e, spa + 4096, dev, 2) == 0, "the device writes");
	CHECK(local[512] == 0, "not seen before the pull");
	local[700] = 0x77; /* a local write the pull must not lose: sync pushes it first */
	CHECK(smash_emu_mirror_sync(e) == 0, "sync");
	CHECK(local[512] == 0x1111 && local[513] == 0x2222 && local[700] == 0x77, "pulled, local write kept");
	CHECK(smash_emu_mem_read64(e, spa + 700 * 8, &w, 1) == 0 && w == 0x77, "pushed");
	smash_emu_mirror_unmap(e, local);
	CHECK(smash_emu_mirror_spa(e, local) == UINT64_MAX, "unmapped");
	pass("page mirror: push at wmb, pull at rmb, sync keeps local writes");

	/* A queued subscription (no callback) and next_event. */
	const char *topics[] = { "tmpm", NULL };
	char sid[64];
	CHECK(smash_emu_subscribe(e, topics, NULL, NULL, sid, sizeof(sid)) == 0, "subscribe");
	CHECK(smash_emu_next_event(e, 0) == NULL, "nothing yet");
	CHECK(smash_emu_callf(e, NULL, "tmpm.submit", "{s:i, s:o}", "command", 1, "listSpa", smash_emu_hex_json(spa)) == 0, "submit");
	json_t *ev = smash_emu_next_event(e, 0);
	CHECK(ev != NULL, "queued before the answer");
	CHECK(strcmp(json_string_value(json_object_get(ev, "subscriptionId")), sid) == 0, "its subscription");
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(ev, "data"), "commandName")), "NOOP") == 0, "the command");
	json_decref(ev);
	CHECK(smash_emu_unsubscribe(e, sid) == 0, "unsubscribe");
	pass("events.subscribe without a callback: next_event");

	/* The shim: udelay is virtual time, readl/writel are registers, alloc_pages is aligned. */
	CHECK(smash_kernel_bind(e) == 0, "bind");
	CHECK(smash_kernel.sme_mask == 1ULL << 51, "the C-bit from emu.info");
	uint64_t before, after;
	smash_emu_clock_now(e, &before);
	udelay(25);
	msleep(2);
	smash_emu_clock_now(e, &after);
	CHECK(after - before == 25000 + 2000000, "udelay + msleep advanced %" PRIu64 " ns", after - before);
	void __iomem *regs = ioremap(SMASH_TMPM_MMIO_BASE, SMASH_TMPM_MMIO_SIZE);
	CHECK((readl((u8 __iomem *)regs + 0x1c) & 3) == 3, "STATUS: ENGINE_READY and DRIVER_INIT");
	CHECK(readl((u8 __iomem *)regs + 0x40) == 0xffffffffu, "an offset outside the window reads all ones");
	struct page *pg = alloc_pages(GFP_KERNEL, 9);
	CHECK(pg != NULL && IS_ALIGNED(page_to_phys(pg), SZ_2M), "alloc_pages(9) is 2 MB aligned");
	u32 *ring = kmap(pg);
	CHECK(virt_to_phys(ring) == page_to_phys(pg), "kmap and virt_to_phys");
	__free_pages(pg, 9);
	dma_addr_t handle;
	u64 *buf = dma_alloc_coherent(NULL, 3 * PAGE_SIZE, &handle, GFP_KERNEL);
	CHECK(buf != NULL && virt_to_phys(&buf[1]) == handle + 8, "dma_alloc_coherent");
	WRITE_ONCE(buf[1], 0x5a5a);
	wmb();
	CHECK(smash_emu_mem_read64(e, handle + 8, &w, 1) == 0 && w == 0x5a5a, "wmb pushed");
	dma_free_coherent(NULL, 3 * PAGE_SIZE, buf, handle);
	pass("kernel shim: udelay/msleep, readl, alloc_pages alignment, kmap, dma_alloc_coherent + wmb");

	/* The interrupt hook waits while interrupts are masked by spin_lock_irqsave. */
	CHECK(request_irq(SMASH_TMPM_IRQ, count_irq, 0, "test", NULL) == 0, "request_irq");
	CHECK(request_irq(SMASH_TMPM_IRQ, count_irq, 0, "test", NULL) == -EBUSY, "a second handler");
	DEFINE_SPINLOCK(lock);
	unsigned long flags;
	spin_lock_irqsave(&lock, flags);
	writel(4096, (u8 __iomem *)regs + 0x08); /* RBHEAD past the ring: WPTR_ERR */
	CHECK(irqs_seen == 0, "masked: not delivered yet");
	spin_unlock_irqrestore(&lock, flags);
	CHECK(irqs_seen == 1, "delivered at the unlock");
	writel(0, (u8 __iomem *)regs + 0x00); /* clear INIT: the engine resets */
	udelay(25);
	CHECK((readl((u8 __iomem *)regs + 0x1c) & (1u << 26)) == 0, "WPTR_ERR cleared by clearing INIT");
	free_irq(SMASH_TMPM_IRQ, NULL);
	pass("request_irq: topic tmpm interrupts, held while spin_lock_irqsave masks them");

	/* The PSP's registers, when the server has them. */
	uint32_t v;
	int rc = smash_emu_psp_read(e, 0x109fc, &v);
	if (rc == -32601) {
		printf("ok %d - psp.readReg: the server has no psp.* methods (-32601) # SKIP\n", ++test_no);
	} else {
		CHECK(rc == 0 && (v & 1) == 1, "psp.readReg FEATURE bit 0 (SEV)");
		pass("psp.readReg FEATURE");
	}

	/* A transport failure: the platform deleted under the connection. */
	smash_emu *other = smash_emu_connect(argv[1]);
	CHECK(other != NULL, "second connection");
	CHECK(smash_emu_callf(other, NULL, "emu.deletePlatform", "{s:s}", "name", argv[2]) == 0, "delete");
	CHECK(smash_emu_clock_now(e, &w) == SMASH_EMU_ETRANSPORT, "a call on the deleted platform's connection fails");
	CHECK(strstr(smash_emu_error(e), "platform deleted") != NULL, "and says why: %s", smash_emu_error(e));
	smash_emu_close(other);
	pass("the server closing the connection: SMASH_EMU_ETRANSPORT with its reason");

	smash_emu_close(e);
	printf("1..%d\n", test_no);
	return 0;
}
