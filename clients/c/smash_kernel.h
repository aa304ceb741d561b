/*
 * smash_kernel.h: the Linux kernel calls a device driver makes, mapped onto a
 * smash-emu connection, so that a driver's own C files compile and run in
 * userspace against the emulator (gcc -std=c11; link smash_emu.c and -ljansson).
 *
 *   MMIO        ioremap(SMASH_TMPM_MMIO_BASE or SMASH_PSP_MMIO_BASE, size), then
 *               readl/writel (ioread32/iowrite32) -> tmpm.readReg/writeReg,
 *               psp.readReg/writeReg. writel() pushes the page mirror first (a
 *               kernel writel orders earlier memory writes before the MMIO write).
 *               A failed MMIO read returns 0xffffffff (as a PCI master abort would).
 *   memory      dma_alloc_coherent, alloc_pages(order) (naturally aligned, as the
 *               buddy allocator's), page_address, kmap (one page), kzalloc: host
 *               pages from mem.alloc, seen through the client's page mirror.
 *   barriers    wmb()/dma_wmb() push local writes to the emulator; rmb()/dma_rmb()
 *               read the mirrored pages again (what the device wrote); mb() does both.
 *               A driver that reads coherent memory after the device wrote it needs
 *               an rmb() first, as on weakly ordered hardware: readl() is not one here.
 *   time        udelay/ndelay/usleep_range/msleep -> clock.advance (virtual clock);
 *               on a realtime platform they sleep.
 *   interrupts  request_irq(SMASH_TMPM_IRQ, ...) subscribes to topic "tmpm" and
 *               calls the handler for each {kind: "interrupt"} event, when the call
 *               that raised it returns (not while spin_lock_irqsave is held: it
 *               waits for the unlock).
 *   printing    dev_err/dev_warn/dev_info/dev_dbg, pr_err/pr_warn/pr_info on stdout.
 *   locking     a trivial spinlock (one thread: it only checks for double locking).
 *
 * Exactly one file of the program defines SMASH_KERNEL_IMPL before including this
 * header (it holds the shim's state), and calls smash_kernel_bind(emu) before the
 * driver runs.
 */
#ifndef SMASH_KERNEL_H
#define SMASH_KERNEL_H

#include "smash_emu.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>

/* ---- types and helpers ------------------------------------------------------------ */

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;
typedef uint64_t dma_addr_t;
typedef uint64_t phys_addr_t;
typedef unsigned int gfp_t;

#define __iomem
#define GFP_KERNEL 0u
#define GFP_ATOMIC 1u
#define __GFP_ZERO 0u /* mem.alloc pages are zeroed anyway */
#define PAGE_SHIFT 12
#define PAGE_SIZE 4096UL
#define SZ_4K 0x1000UL
#define SZ_2M 0x200000UL
#define BIT(n) (1UL << (n))
#define BIT_ULL(n) (1ULL << (n))
#define GENMASK(h, l) (((~0UL) >> (63 - (h))) & (~0UL << (l)))
#define GENMASK_ULL(h, l) (((~0ULL) >> (63 - (h))) & (~0ULL << (l)))
#define lower_32_bits(n) ((u32)((n) & 0xffffffffu))
#define upper_32_bits(n) ((u32)(((u64)(n)) >> 32))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define ALIGN(x, a) (((x) + ((__typeof__(x))(a) - 1)) & ~((__typeof__(x))(a) - 1))
#define CIRC_CNT(head, tail, size) (((head) - (tail)) & ((size) - 1))
#define CIRC_SPACE(head, tail, size) CIRC_CNT((tail), ((head) + 1), (size))
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define unlikely(x) (x)
#define likely(x) (x)

struct device {
	const char *name;
};

/* A block of 2^order pages from alloc_pages. */
struct page {
	phys_addr_t phys;
	unsigned int order;
	u64 alloc_spa; /* the mem.alloc allocation holding the aligned block */
	u32 alloc_pages;
	void *mapped;  /* page_address: the whole block */
	void *kmapped; /* kmap: the first page */
};

typedef enum irqreturn { IRQ_NONE = 0, IRQ_HANDLED = 1 } irqreturn_t;
typedef irqreturn_t (*irq_handler_t)(int irq, void *dev_id);

typedef struct {
	int locked;
} spinlock_t;

/* ---- the shim's state (defined once: SMASH_KERNEL_IMPL) ------------------------------ */

/* MMIO windows the shim invents (the emulator's devices have registers, not addresses). */
#define SMASH_TMPM_MMIO_BASE 0xfed40000ULL
#define SMASH_TMPM_MMIO_SIZE 0x20ULL
#define SMASH_PSP_MMIO_BASE 0xfe000000ULL
#define SMASH_PSP_MMIO_SIZE 0x100000ULL
/* Interrupt lines: topic "tmpm" and topic "psp". */
#define SMASH_TMPM_IRQ 1
#define SMASH_PSP_IRQ 2

struct smash_kernel_irq {
	irq_handler_t handler;
	void *dev_id;
	char subscription[64];
	int pending;
};

struct smash_kernel {
	smash_emu *emu;
	int realtime;
	u64 sme_mask; /* the C-bit, from emu.info config.cBit */
	int irq_masked;
	struct smash_kernel_irq irqs[3];
};

extern struct smash_kernel smash_kernel;
#ifdef SMASH_KERNEL_IMPL
struct smash_kernel smash_kernel;
#endif

#define __sme_set(x) ((x) | smash_kernel.sme_mask)
#define __sme_clr(x) ((x) & ~smash_kernel.sme_mask)

/* ---- printing --------------------------------------------------------------------------- */

static inline void smash_kernel_printk(const char *level, const char *who, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("[%s] %s: ", level, who);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

#define dev_err(dev, ...) smash_kernel_printk("err", (dev)->name, __VA_ARGS__)
#define dev_warn(dev, ...) smash_kernel_printk("warn", (dev)->name, __VA_ARGS__)
#define dev_info(dev, ...) smash_kernel_printk("info", (dev)->name, __VA_ARGS__)
#define dev_dbg(dev, ...) ((void)(dev))
#define pr_err(...) smash_kernel_printk("err", "kernel", __VA_ARGS__)
#define pr_warn(...) smash_kernel_printk("warn", "kernel", __VA_ARGS__)
#define pr_info(...) smash_kernel_printk("info", "kernel", __VA_ARGS__)

/* A call the shim made failed: said once, on stderr, with the server's message. */
static inline void smash_kernel_failed(const char *what, int rc)
{
	fprintf(stderr, "smash_kernel: %s failed (%d): %s\n", what, rc, smash_emu_error(smash_kernel.emu));
}

/* ---- barriers and the mirror --------------------------------------------------------------- */

static inline void wmb(void)
{
	int rc = smash_emu_mirror_push(smash_kernel.emu);
	if (rc != 0)
		smash_kernel_failed("wmb (mirror push)", rc);
}

static inline void rmb(void)
{
	int rc = smash_emu_mirror_pull(smash_kernel.emu);
	if (rc != 0)
		smash_kernel_failed("rmb (mirror pull)", rc);
}

static inline void mb(void)
{
	int rc = smash_emu_mirror_sync(smash_kernel.emu);
	if (rc != 0)
		smash_kernel_failed("mb (mirror sync)", rc);
}

#define dma_wmb() wmb()
#define dma_rmb() rmb()
#define smp_wmb() wmb()
#define smp_rmb() rmb()
#define smp_mb() mb()

/* ---- MMIO --------------------------------------------------------------------------------- */

static inline void __iomem *ioremap(phys_addr_t phys, size_t size)
{
	(void)size;
	return (void __iomem *)(uintptr_t)phys;
}

static inline void iounmap(volatile void __iomem *addr)
{
	(void)addr;
}

static inline u32 readl(const volatile void __iomem *addr)
{
	u64 a = (u64)(uintptr_t)addr;
	u32 value = 0xffffffffu;
	int rc;
	if (a >= SMASH_TMPM_MMIO_BASE && a < SMASH_TMPM_MMIO_BASE + SMASH_TMPM_MMIO_SIZE)
		rc = smash_emu_tmpm_read(smash_kernel.emu, (u32)(a - SMASH_TMPM_MMIO_BASE), &value);
	else if (a >= SMASH_PSP_MMIO_BASE && a < SMASH_PSP_MMIO_BASE + SMASH_PSP_MMIO_SIZE)
		rc = smash_emu_psp_read(smash_kernel.emu, (u32)(a - SMASH_PSP_MMIO_BASE), &value);
	else {
		fprintf(stderr, "smash_kernel: readl at 0x%llx: in no MMIO window (ioremap SMASH_TMPM_MMIO_BASE or SMASH_PSP_MMIO_BASE)\n", (unsigned long long)a);
		return 0xffffffffu;
	}
	if (rc != 0) {
		smash_kernel_failed("readl", rc);
		return 0xffffffffu;
	}
	return value;
}

static inline void writel(u32 value, volatile void __iomem *addr)
{
	u64 a = (u64)(uintptr_t)addr;
	int rc;
	wmb();
	if (a >= SMASH_TMPM_MMIO_BASE && a < SMASH_TMPM_MMIO_BASE + SMASH_TMPM_MMIO_SIZE)
		rc = smash_emu_tmpm_write(smash_kernel.emu, (u32)(a - SMASH_TMPM_MMIO_BASE), value);
	else if (a >= SMASH_PSP_MMIO_BASE && a < SMASH_PSP_MMIO_BASE + SMASH_PSP_MMIO_SIZE)
		rc = smash_emu_psp_write(smash_kernel.emu, (u32)(a - SMASH_PSP_MMIO_BASE), value);
	else {
		fprintf(stderr, "smash_kernel: writel at 0x%llx: in no MMIO window (ioremap SMASH_TMPM_MMIO_BASE or SMASH_PSP_MMIO_BASE)\n", (unsigned long long)a);
		return;
	}
	if (rc != 0)
		smash_kernel_failed("writel", rc);
}

#define ioread32(addr) readl(addr)
#define iowrite32(value, addr) writel((value), (addr))
#define readl_relaxed(addr) readl(addr)
#define writel_relaxed(value, addr) writel((value), (addr))

/* ---- time ------------------------------------------------------------------------------------ */

static inline void ndelay(unsigned long ns)
{
	if (!smash_kernel.realtime) {
		int rc = smash_emu_clock_advance(smash_kernel.emu, ns, NULL);
		if (rc == 0)
			return;
		if (rc != -32002) {
			smash_kernel_failed("udelay (clock.advance)", rc);
			return;
		}
		smash_kernel.realtime = 1; /* the platform switched to realtime: sleep from now on */
	}
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000UL), .tv_nsec = (long)(ns % 1000000000UL) };
	thrd_sleep(&ts, NULL);
}

static inline void udelay(unsigned long us)
{
	ndelay(us * 1000UL);
}

static inline void usleep_range(unsigned long min_us, unsigned long max_us)
{
	(void)max_us;
	ndelay(min_us * 1000UL);
}

static inline void msleep(unsigned int ms)
{
	ndelay(ms * 1000000UL);
}

/* linux/iopoll.h: poll `op(addr)` into val every delay_us until cond or timeout_us; 0 or -ETIMEDOUT. */
#define read_poll_timeout(op, val, cond, delay_us, timeout_us, sleep_before_read, addr)       \
	({                                                                                     \
		unsigned long __left = (timeout_us);                                           \
		if (sleep_before_read)                                                         \
			udelay(delay_us);                                                      \
		for (;;) {                                                                     \
			(val) = op(addr);                                                      \
			if (cond)                                                              \
				break;                                                         \
			if (__left < (unsigned long)(delay_us) || (delay_us) == 0) {           \
				(val) = op(addr);                                              \
				break;                                                         \
			}                                                                      \
			udelay(delay_us);                                                      \
			__left -= (delay_us);                                                  \
		}                                                                              \
		(cond) ? 0 : -ETIMEDOUT;                                                       \
	})
#define readl_poll_timeout(addr, val, cond, delay_us, timeout_us) read_poll_timeout(readl, val, cond, delay_us, timeout_us, false, addr)

/* ---- memory --------------------------------------------------------------------------------- */

static inline void *kzalloc(size_t size, gfp_t gfp)
{
	(void)gfp;
	return calloc(1, size);
}
#define kmalloc(size, gfp) kzalloc((size), (gfp))
static inline void kfree(const void *p)
{
	free((void *)p);
}

static inline void *dma_alloc_coherent(struct device *dev, size_t size, dma_addr_t *handle, gfp_t gfp)
{
	(void)dev;
	(void)gfp;
	u32 pages = (u32)((size + PAGE_SIZE - 1) / PAGE_SIZE);
	u64 spa;
	int rc = smash_emu_mem_alloc(smash_kernel.emu, pages, &spa);
	if (rc != 0) {
		smash_kernel_failed("dma_alloc_coherent (mem.alloc)", rc);
		return NULL;
	}
	void *local = smash_emu_mirror_map(smash_kernel.emu, spa, pages);
	if (local == NULL) {
		smash_emu_mem_free(smash_kernel.emu, spa, pages);
		return NULL;
	}
	*handle = spa;
	return local;
}

static inline void dma_free_coherent(struct device *dev, size_t size, void *vaddr, dma_addr_t handle)
{
	(void)dev;
	smash_emu_mirror_unmap(smash_kernel.emu, vaddr);
	smash_emu_mem_free(smash_kernel.emu, handle, (u32)((size + PAGE_SIZE - 1) / PAGE_SIZE));
}

/* 2^order pages, aligned to their size (the pool's allocation is over-sized to find the block). */
static inline struct page *alloc_pages(gfp_t gfp, unsigned int order)
{
	(void)gfp;
	u64 size = PAGE_SIZE << order;
	u32 pages = order == 0 ? 1u : (u32)(2u * (1u << order) - 1u);
	u64 spa;
	int rc = smash_emu_mem_alloc(smash_kernel.emu, pages, &spa);
	if (rc != 0) {
		smash_kernel_failed("alloc_pages (mem.alloc)", rc);
		return NULL;
	}
	struct page *page = calloc(1, sizeof(*page));
	page->phys = (spa + size - 1) & ~(size - 1);
	page->order = order;
	page->alloc_spa = spa;
	page->alloc_pages = pages;
	return page;
}

static inline void __free_pages(struct page *page, unsigned int order)
{
	(void)order;
	if (page == NULL)
		return;
	if (page->mapped != NULL)
		smash_emu_mirror_unmap(smash_kernel.emu, page->mapped);
	if (page->kmapped != NULL)
		smash_emu_mirror_unmap(smash_kernel.emu, page->kmapped);
	smash_emu_mem_free(smash_kernel.emu, page->alloc_spa, page->alloc_pages);
	free(page);
}

static inline phys_addr_t page_to_phys(const struct page *page)
{
	return page->phys;
}

/* The whole block, mirrored (every page is read again at each rmb(): kmap() one page when that is all the driver touches). */
static inline void *page_address(struct page *page)
{
	if (page->mapped == NULL)
		page->mapped = smash_emu_mirror_map(smash_kernel.emu, page->phys, (size_t)1 << page->order);
	return page->mapped;
}

static inline void *kmap(struct page *page)
{
	if (page->mapped != NULL)
		return page->mapped;
	if (page->kmapped == NULL)
		page->kmapped = smash_emu_mirror_map(smash_kernel.emu, page->phys, 1);
	return page->kmapped;
}

static inline void kunmap(struct page *page)
{
	if (page->kmapped != NULL)
		smash_emu_mirror_unmap(smash_kernel.emu, page->kmapped);
	page->kmapped = NULL;
}

static inline phys_addr_t virt_to_phys(const volatile void *addr)
{
	return smash_emu_mirror_spa(smash_kernel.emu, (const void *)addr);
}

/*
 * Not a kernel call: makes a page Hypervisor-Fixed in the RMP (Assigned 0,
 * Immutable 1), what the platform does for a page named in SNP_INIT_EX's range
 * list. The TMPM's ring must be such a page while SNP is initialised.
 */
static inline int smash_rmp_make_hv_fixed(phys_addr_t phys)
{
	json_t *r;
	int rc = smash_emu_callf(smash_kernel.emu, &r, "rmp.update", "{s:o, s:b, s:s, s:b}", "spa", smash_emu_hex_json(phys), "assigned", 0,
				 "pageSize", "4K", "immutable", 1);
	if (rc != 0) {
		smash_kernel_failed("rmp.update", rc);
		return -EIO;
	}
	int ok = json_integer_value(json_object_get(r, "rc")) == 0;
	json_decref(r);
	return ok ? 0 : -EIO;
}

/* ---- locking ---------------------------------------------------------------------------------- */

#define DEFINE_SPINLOCK(x) spinlock_t x = { 0 }

static inline void smash_kernel_deliver_irqs(void);

static inline void spin_lock_init(spinlock_t *lock)
{
	lock->locked = 0;
}

static inline void spin_lock(spinlock_t *lock)
{
	if (lock->locked)
		fprintf(stderr, "smash_kernel: spin_lock of a held lock: deadlock on a real machine\n");
	lock->locked = 1;
}

static inline void spin_unlock(spinlock_t *lock)
{
	lock->locked = 0;
}

#define spin_lock_irqsave(lock, flags)           \
	do {                                     \
		(flags) = 0;                     \
		smash_kernel.irq_masked++;       \
		spin_lock(lock);                 \
	} while (0)

#define spin_unlock_irqrestore(lock, flags)      \
	do {                                     \
		(void)(flags);                   \
		spin_unlock(lock);               \
		smash_kernel.irq_masked--;       \
		smash_kernel_deliver_irqs();     \
	} while (0)

/* ---- interrupts ------------------------------------------------------------------------------- */

static inline void smash_kernel_deliver_irqs(void)
{
	for (int irq = 1; irq < 3 && smash_kernel.irq_masked == 0; irq++) {
		struct smash_kernel_irq *line = &smash_kernel.irqs[irq];
		while (line->pending > 0 && line->handler != NULL && smash_kernel.irq_masked == 0) {
			line->pending--;
			line->handler(irq, line->dev_id);
		}
	}
}

/* An event of an interrupt line's topic: an interrupt when data.kind is "interrupt". */
static inline void smash_kernel_irq_event(void *arg, const char *topic, uint64_t at_ns, json_t *data)
{
	(void)topic;
	(void)at_ns;
	struct smash_kernel_irq *line = arg;
	const char *kind = json_string_value(json_object_get(data, "kind"));
	if (kind == NULL || strcmp(kind, "interrupt") != 0)
		return;
	line->pending++;
	smash_kernel_deliver_irqs();
}

static inline int request_irq(unsigned int irq, irq_handler_t handler, unsigned long flags, const char *name, void *dev_id)
{
	(void)flags;
	(void)name;
	if (irq != SMASH_TMPM_IRQ && irq != SMASH_PSP_IRQ)
		return -EINVAL;
	struct smash_kernel_irq *line = &smash_kernel.irqs[irq];
	if (line->handler != NULL)
		return -EBUSY;
	const char *topics[] = { irq == SMASH_TMPM_IRQ ? "tmpm" : "psp", NULL };
	int rc = smash_emu_subscribe(smash_kernel.emu, topics, smash_kernel_irq_event, line, line->subscription, sizeof(line->subscription));
	if (rc != 0) {
		smash_kernel_failed("request_irq (events.subscribe)", rc);
		return -EIO;
	}
	line->handler = handler;
	line->dev_id = dev_id;
	line->pending = 0;
	return 0;
}

static inline void free_irq(unsigned int irq, void *dev_id)
{
	(void)dev_id;
	if (irq != SMASH_TMPM_IRQ && irq != SMASH_PSP_IRQ)
		return;
	struct smash_kernel_irq *line = &smash_kernel.irqs[irq];
	if (line->handler == NULL)
		return;
	smash_emu_unsubscribe(smash_kernel.emu, line->subscription);
	line->handler = NULL;
	line->pending = 0;
}

/* ---- binding ----------------------------------------------------------------------------------- */

/* Points the shim at a connection: reads the clock mode and the C-bit from emu.info. */
static inline int smash_kernel_bind(smash_emu *emu)
{
	memset(&smash_kernel, 0, sizeof(smash_kernel));
	smash_kernel.emu = emu;
	json_t *info;
	int rc = smash_emu_call(emu, "emu.info", NULL, &info);
	if (rc != 0)
		return rc;
	const char *mode = json_string_value(json_object_get(info, "clockMode"));
	smash_kernel.realtime = mode != NULL && strcmp(mode, "realtime") == 0;
	json_t *cbit = json_object_get(json_object_get(info, "config"), "cBit");
	smash_kernel.sme_mask = json_is_integer(cbit) ? 1ULL << json_integer_value(cbit) : 0;
	json_decref(info);
	return 0;
}

#endif
