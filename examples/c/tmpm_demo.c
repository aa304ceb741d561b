/*
 * tmpm_demo: runs the driver in tmpm.c against smash-emu, as a kernel would run
 * it, and prints what happened. It takes a platform of its own and leaves the
 * engine for the driver to bring up.
 *
 *   npx smash-emu serve --unix /tmp/smash-emu.sock &
 *   gcc -std=c11 -Wall -Werror -Iclients/c examples/c/tmpm_demo.c examples/c/tmpm.c clients/c/smash_emu.c -ljansson -o tmpm_demo
 *   ./tmpm_demo /tmp/smash-emu.sock my-platform
 */
#define SMASH_KERNEL_IMPL
#include "tmpm.h"

static const char *status_name(u8 s)
{
	switch (s) {
	case TMPM_ST_SUCCESS: return "SUCCESS";
	case TMPM_ST_INVALID_PAGE_SIZE: return "INVALID_PAGE_SIZE";
	case TMPM_ST_INVALID_HPTE_PADDR: return "INVALID_HPTE_PADDR";
	case TMPM_ST_INVALID_COMMAND: return "INVALID_COMMAND";
	default: return "other";
	}
}

static const char *errno_name(int rc)
{
	switch (rc) {
	case 0: return "0";
	case -EAGAIN: return "-EAGAIN";
	case -ETIMEDOUT: return "-ETIMEDOUT";
	case -EIO: return "-EIO";
	case -ENODEV: return "-ENODEV";
	default: return "-E?";
	}
}

static int die(smash_emu *e, const char *what, int rc)
{
	fprintf(stderr, "tmpm_demo: %s failed (%d): %s\n", what, rc, smash_emu_error(e));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: tmpm_demo SOCKET PLATFORM\n");
		return 2;
	}
	smash_emu *e = smash_emu_connect(argv[1]);
	if (e == NULL) {
		perror("tmpm_demo: connect");
		return 1;
	}
	int rc = smash_emu_attach(e, argv[2]);
	if (rc)
		return die(e, "session.attach", rc);
	/* The default platform with the engine left uninitialised, for this driver. */
	rc = smash_emu_callf(e, NULL, "emu.reset", "{s:{s:{s:b}}}", "scenario", "tmpm", "initialised", 0);
	if (rc)
		return die(e, "emu.reset", rc);
	rc = smash_kernel_bind(e);
	if (rc)
		return die(e, "emu.info", rc);

	/* Probe: map the registers, hook the interrupt, bring the engine up. */
	static struct tmpm t = { .dev = { .name = "tmpm" } };
	void __iomem *regs = ioremap(SMASH_TMPM_MMIO_BASE, SMASH_TMPM_MMIO_SIZE);
	if (request_irq(SMASH_TMPM_IRQ, tmpm_irq, 0, "tmpm", &t))
		return die(e, "request_irq", -1);
	rc = tmpm_init(&t, regs);
	u32 status = readl((u8 __iomem *)regs + TMPM_STATUS);
	printf("bring-up: %s, STATUS 0x%08x, ring 2 MB aligned: %s\n", errno_name(rc), status, IS_ALIGNED(t.ring_dma, SZ_2M) ? "yes" : "no");
	if (rc)
		return 1;

	struct tmpm_caps caps;
	rc = tmpm_get_capabilities(&t, &caps);
	printf("GET_CAPABILITIES: %s, fw %u.%u, spec %u.%u, support 0x%x (PSMASH %d, PUNSMASH %d)\n", errno_name(rc), caps.fw_reg >> 24, (caps.fw_reg >> 16) & 0xff,
	       caps.spec_reg >> 24, (caps.spec_reg >> 16) & 0xff, caps.support_reg, !!(caps.support_reg & TMPM_SUPPORT_PSMASH),
	       !!(caps.support_reg & TMPM_SUPPORT_PUNSMASH));

	/* PSMASH_IO on a page the emulator prepared: domain 1's 2 MB leaf at IOVA 0x200000. */
	json_t *prep;
	rc = smash_emu_callf(e, &prep, "tmpm.preparePsmash", "{s:i, s:s}", "domainId", 1, "iova", "0x200000");
	if (rc)
		return die(e, "tmpm.preparePsmash", rc);
	u64 src = smash_emu_hex_field(prep, "srcPgSpa"), hpte = smash_emu_hex_field(prep, "smashHpteSpa");
	u64 hpmd = smash_emu_hex_field(prep, "srcHpmdSpa"), gctx = smash_emu_hex_field(prep, "gctxSpa");
	json_decref(prep);
	u8 st = 0;
	u64 word = 0;
	rc = tmpm_psmash_io(&t, src, hpte, hpmd, gctx, &st, &word);
	json_t *walk;
	if (smash_emu_callf(e, &walk, "iommu.walk", "{s:i, s:s}", "deviceId", 0x100, "iova", "0x203000"))
		return die(e, "iommu.walk", -1);
	printf("PSMASH_IO: %s, status 0x%02x %s, gctx word status 0x%02llx, IOVA 0x203000 now a 2^%lld leaf\n", errno_name(rc), st, status_name(st),
	       (unsigned long long)(word & 0xff), (long long)json_integer_value(json_object_get(walk, "sizeLg2")));
	json_decref(walk);

	/* Refused: the same page again (its PTE page is now a live table), and a command the engine does not know. */
	rc = tmpm_psmash_io(&t, src, hpte, hpmd, gctx, &st, &word);
	printf("PSMASH_IO again: %s, status 0x%02x %s\n", errno_name(rc), st, status_name(st));
	rc = tmpm_submit(&t, 0x7f, t.cmd_dma, 0, &st);
	printf("command 0x7f: %s, status 0x%02x %s\n", errno_name(rc), st, status_name(st));

	/* A timeout: with the engine paused nothing runs, and the driver gives up after 25 ms. */
	u64 before, after;
	smash_emu_clock_now(e, &before);
	tmpm_pause(&t, true);
	rc = tmpm_submit(&t, TMPM_CMD_NOOP, t.cmd_dma, 0, &st);
	smash_emu_clock_now(e, &after);
	printf("NOOP while paused: %s after %llu us of virtual time\n", errno_name(rc), (unsigned long long)(after - before) / 1000);

	/* Ring full: one slot is never used (CIRC_SPACE), so 255 entries fill it. */
	int queued = 1; /* the NOOP that timed out is still in the ring */
	u16 index;
	while ((rc = tmpm_queue(&t, TMPM_CMD_NOOP, t.cmd_dma, 0, &index)) == 0)
		queued++;
	printf("ring full: %d entries pending, then %s\n", queued, errno_name(rc));
	tmpm_pause(&t, false);
	rc = readl_poll_timeout((u8 __iomem *)regs + TMPM_RBTAIL, status, status == t.head, TMPM_POLL_US, TMPM_POLL_US * TMPM_POLL_LOOPS);
	rmb();
	int ok = 0;
	for (int i = 0; i < TMPM_RING_ENTRIES; i++)
		ok += (READ_ONCE(t.ring[i].status_reg) & 0xff) == TMPM_ST_SUCCESS;
	printf("resumed: %s, tail %u, %d slots SUCCESS\n", errno_name(rc), status, ok);

	/* A bad doorbell: RBHEAD past the ring sets WPTR_ERR and raises the interrupt. */
	writel(TMPM_RING_ENTRIES, (u8 __iomem *)regs + TMPM_RBHEAD);
	printf("WPTR_ERR: interrupts %u, STATUS 0x%08x, stopped %d\n", t.interrupts, t.irq_status, t.stopped);
	rc = tmpm_restart(&t);
	int rc2 = tmpm_submit(&t, TMPM_CMD_NOOP, t.cmd_dma, 0, &st);
	printf("restart: %s, NOOP %s status 0x%02x %s\n", errno_name(rc), errno_name(rc2), st, status_name(st));

	rc = tmpm_shutdown(&t);
	free_irq(SMASH_TMPM_IRQ, &t);
	status = readl((u8 __iomem *)regs + TMPM_STATUS);
	json_t *audit;
	if (smash_emu_call(e, "emu.audit", NULL, &audit))
		return die(e, "emu.audit", -1);
	printf("shutdown: %s, STATUS 0x%08x, audit violations %zu\n", errno_name(rc), status, json_array_size(json_object_get(audit, "violations")));
	json_decref(audit);
	smash_emu_close(e);
	return 0;
}
