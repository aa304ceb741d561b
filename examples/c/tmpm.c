/*
 * tmpm.c: the driver (see tmpm.h). Kernel calls only: readl/writel, alloc_pages,
 * kmap, dma_alloc_coherent, wmb/rmb, udelay, dev_err/dev_info, a spinlock.
 */
#include "tmpm.h"

#define RING_ORDER 9 /* 2 MB: under SNP the ring is the first 4 KB of a 2 MB-aligned block */

static u32 tmpm_read(struct tmpm *t, u32 reg)
{
	return readl((u8 __iomem *)t->regs + reg);
}

static void tmpm_write(struct tmpm *t, u32 reg, u32 value)
{
	writel(value, (u8 __iomem *)t->regs + reg);
}

/* Polls `reg` until (value & mask) == want: 0, or -ETIMEDOUT after TMPM_POLL_LOOPS x TMPM_POLL_US. */
static int tmpm_poll(struct tmpm *t, u32 reg, u32 mask, u32 want)
{
	u32 value;
	return readl_poll_timeout((u8 __iomem *)t->regs + reg, value, (value & mask) == want, TMPM_POLL_US, TMPM_POLL_US * TMPM_POLL_LOOPS);
}

/* An RBCTL write completes when STATUS.TOGGLE flips. */
static int tmpm_write_ctl(struct tmpm *t, u32 value)
{
	u32 before = tmpm_read(t, TMPM_STATUS) & TMPM_STATUS_TOGGLE;
	tmpm_write(t, TMPM_RBCTL, value);
	int rc = tmpm_poll(t, TMPM_STATUS, TMPM_STATUS_TOGGLE, before ^ TMPM_STATUS_TOGGLE);
	if (rc)
		dev_err(&t->dev, "RBCTL 0x%x: STATUS.TOGGLE did not flip\n", value);
	return rc;
}

/* INIT with the ring registers already written: wait for DRIVER_INIT. */
static int tmpm_start(struct tmpm *t)
{
	u64 base = __sme_set(t->ring_dma);
	tmpm_write(t, TMPM_RBLOW, lower_32_bits(base));
	tmpm_write(t, TMPM_RBHIGH, upper_32_bits(base));
	tmpm_write(t, TMPM_CDATA, TMPM_RING_PAGES);
	tmpm_write(t, TMPM_RBHEAD, 0);
	t->head = 0;
	t->stopped = false;
	int rc = tmpm_write_ctl(t, TMPM_RBCTL_INIT);
	if (rc)
		return rc;
	if (tmpm_poll(t, TMPM_STATUS, TMPM_STATUS_DRIVER_INIT, TMPM_STATUS_DRIVER_INIT)) {
		u32 status = tmpm_read(t, TMPM_STATUS);
		dev_err(&t->dev, "DRIVER_INIT did not set (STATUS 0x%08x%s)\n", status, status & TMPM_STATUS_RB_ERR ? ", RB_ERR: ring refused" : "");
		return -EIO;
	}
	return 0;
}

int tmpm_init(struct tmpm *t, void __iomem *regs)
{
	t->regs = regs;
	spin_lock_init(&t->lock);
	u32 status = tmpm_read(t, TMPM_STATUS);
	if (!(status & TMPM_STATUS_ENGINE_READY)) {
		dev_err(&t->dev, "engine not ready\n");
		return -ENODEV;
	}
	if (status & TMPM_STATUS_DRIVER_INIT) {
		dev_err(&t->dev, "engine already initialised\n");
		return -EBUSY;
	}
	t->ring_block = alloc_pages(GFP_KERNEL, RING_ORDER);
	if (!t->ring_block)
		return -ENOMEM;
	t->ring_dma = page_to_phys(t->ring_block);
	t->ring = kmap(t->ring_block);
	t->cmd = dma_alloc_coherent(&t->dev, PAGE_SIZE, &t->cmd_dma, GFP_KERNEL);
	if (!t->ring || !t->cmd)
		return -ENOMEM;
	if (smash_rmp_make_hv_fixed(t->ring_dma)) {
		dev_err(&t->dev, "cannot make the ring page Hypervisor-Fixed\n");
		return -EIO;
	}
	int rc = tmpm_start(t);
	if (rc)
		return rc;
	dev_info(&t->dev, "ring at 0x%llx, %d entries\n", (unsigned long long)t->ring_dma, TMPM_RING_ENTRIES);
	return 0;
}

/* After RB_ERR or WPTR_ERR the engine stops until INIT is cleared and set again. */
int tmpm_restart(struct tmpm *t)
{
	int rc = tmpm_write_ctl(t, 0);
	if (rc)
		return rc;
	if (tmpm_poll(t, TMPM_STATUS, TMPM_STATUS_DRIVER_INIT, 0))
		return -EIO;
	return tmpm_start(t);
}

int tmpm_pause(struct tmpm *t, bool pause)
{
	return tmpm_write_ctl(t, TMPM_RBCTL_INIT | (pause ? TMPM_RBCTL_PAUSE : 0));
}

int tmpm_shutdown(struct tmpm *t)
{
	int rc = tmpm_write_ctl(t, TMPM_RBCTL_INIT | TMPM_RBCTL_PAUSE);
	if (!rc && tmpm_poll(t, TMPM_RBTAIL, 0xffff, t->head))
		dev_warn(&t->dev, "ring not drained at shutdown\n");
	if (!rc)
		rc = tmpm_write_ctl(t, TMPM_RBCTL_PAUSE);
	if (!rc)
		rc = tmpm_poll(t, TMPM_STATUS, TMPM_STATUS_DRIVER_INIT, 0);
	dma_free_coherent(&t->dev, PAGE_SIZE, t->cmd, t->cmd_dma);
	kunmap(t->ring_block);
	/* The ring page stays Hypervisor-Fixed: the firmware must reclaim it before it is reused. */
	return rc;
}

int tmpm_queue(struct tmpm *t, u8 command, dma_addr_t list, u16 pages, u16 *index)
{
	unsigned long flags;
	spin_lock_irqsave(&t->lock, flags);
	u16 tail = tmpm_read(t, TMPM_RBTAIL) & 0xffff;
	if (CIRC_SPACE(t->head, tail, TMPM_RING_ENTRIES) == 0) {
		spin_unlock_irqrestore(&t->lock, flags);
		return -EAGAIN;
	}
	struct tmpm_entry *e = &t->ring[t->head];
	WRITE_ONCE(e->list_paddr, __sme_set(list));
	WRITE_ONCE(e->cmd_reg, (u32)command | ((u32)(pages & 0xfff) << 16));
	WRITE_ONCE(e->status_reg, 0);
	*index = t->head;
	t->head = (t->head + 1) % TMPM_RING_ENTRIES;
	/* writel orders the entry (a wmb) before the doorbell. */
	tmpm_write(t, TMPM_RBHEAD, t->head);
	spin_unlock_irqrestore(&t->lock, flags);
	return 0;
}

int tmpm_wait(struct tmpm *t, u16 index, u8 *status)
{
	for (int i = 0; i <= TMPM_POLL_LOOPS; i++) {
		rmb();
		u8 s = READ_ONCE(t->ring[index].status_reg) & 0xff;
		if (s) {
			*status = s;
			return 0;
		}
		if (i < TMPM_POLL_LOOPS)
			udelay(TMPM_POLL_US);
	}
	dev_err(&t->dev, "slot %u: no status within %d us\n", index, TMPM_POLL_US * TMPM_POLL_LOOPS);
	return -ETIMEDOUT;
}

int tmpm_submit(struct tmpm *t, u8 command, dma_addr_t list, u16 pages, u8 *status)
{
	u16 index;
	int rc = tmpm_queue(t, command, list, pages, &index);
	return rc ? rc : tmpm_wait(t, index, status);
}

int tmpm_get_capabilities(struct tmpm *t, struct tmpm_caps *caps)
{
	u32 *words = t->cmd;
	u8 status;
	memset(words, 0, 16);
	int rc = tmpm_submit(t, TMPM_CMD_GET_CAPABILITIES, t->cmd_dma, 0, &status);
	if (rc)
		return rc;
	if (status != TMPM_ST_SUCCESS)
		return -EIO;
	rmb();
	caps->fw_reg = READ_ONCE(words[1]);
	caps->spec_reg = READ_ONCE(words[2]);
	caps->support_reg = READ_ONCE(words[3]);
	t->support = caps->support_reg;
	return 0;
}

int tmpm_psmash_io(struct tmpm *t, u64 src_pg, u64 smash_hpte, u64 src_hpmd, u64 gctx, u8 *status, u64 *gctx_out)
{
	struct tmpm_psmash_page *page = t->cmd;
	if (!(t->support & TMPM_SUPPORT_PSMASH))
		return -ENODEV;
	if (!IS_ALIGNED(__sme_clr(src_pg), SZ_2M))
		return -EINVAL;
	page->src_pg_paddr = __sme_set(src_pg);
	page->smash_hpte_paddr = __sme_set(smash_hpte);
	page->src_hpmd_paddr = __sme_set(src_hpmd);
	page->gctx = __sme_set(gctx);
	int rc = tmpm_submit(t, TMPM_CMD_PSMASH_IO, t->cmd_dma, 0, status);
	if (rc)
		return rc;
	rmb();
	*gctx_out = READ_ONCE(page->gctx);
	u64 w = *gctx_out;
	if (*status != TMPM_ST_SUCCESS)
		dev_err(&t->dev, "PSMASH_IO: status 0x%02x sub_status %u pte_err %u pte_suberr %u\n", (unsigned)(w & 0xff), (unsigned)((w >> 8) & 0xf),
			(unsigned)((w >> 60) & 0xf), (unsigned)((w >> 56) & 0xf));
	return *status == TMPM_ST_SUCCESS ? 0 : -EIO;
}

irqreturn_t tmpm_irq(int irq, void *dev_id)
{
	struct tmpm *t = dev_id;
	(void)irq;
	u32 status = tmpm_read(t, TMPM_STATUS);
	if (!(status & (TMPM_STATUS_RB_ERR | TMPM_STATUS_WPTR_ERR)))
		return IRQ_NONE;
	t->interrupts++;
	t->irq_status = status;
	t->stopped = true;
	dev_err(&t->dev, "interrupt: STATUS 0x%08x%s%s: the engine stopped\n", status, status & TMPM_STATUS_RB_ERR ? " RB_ERR" : "",
		status & TMPM_STATUS_WPTR_ERR ? " WPTR_ERR" : "");
	return IRQ_HANDLED;
}
