/*
 * tmpm.h: a minimal driver for AMD's TMPM engine (the smash engine), written from
 * its public register and ring protocol (docs/hardware.md §2.4; protocol/README.md
 * §4.3): bring-up, GET_CAPABILITIES, PSMASH_IO, the interrupt, shutdown. Kernel
 * C: built against <linux/...> in a kernel, against smash_kernel.h in userspace.
 */
#ifndef TMPM_H
#define TMPM_H

#ifdef __KERNEL__
#include <linux/device.h>
#include <linux/interrupt.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#else
#include "smash_kernel.h"
#endif

/* Registers (byte offsets, 32-bit). */
#define TMPM_RBCTL 0x00
#define TMPM_RBTAIL 0x04
#define TMPM_RBHEAD 0x08
#define TMPM_CDATA 0x0c
#define TMPM_RBLOW 0x10
#define TMPM_RBHIGH 0x14
#define TMPM_THRESH 0x18
#define TMPM_STATUS 0x1c

#define TMPM_RBCTL_PAUSE BIT(0)
#define TMPM_RBCTL_INIT BIT(1)
#define TMPM_STATUS_ENGINE_READY BIT(0)
#define TMPM_STATUS_DRIVER_INIT BIT(1)
#define TMPM_STATUS_RB_ERR BIT(25)
#define TMPM_STATUS_WPTR_ERR BIT(26)
#define TMPM_STATUS_TOGGLE BIT(31)

/* One 4 KB ring page: 256 entries of 16 bytes. */
#define TMPM_RING_PAGES 1
#define TMPM_RING_ENTRIES (TMPM_RING_PAGES * 256)

/* Commands and the statuses this driver names. */
#define TMPM_CMD_GET_CAPABILITIES 0x00
#define TMPM_CMD_NOOP 0x01
#define TMPM_CMD_PSMASH_IO 0x05
#define TMPM_SUPPORT_PSMASH BIT(6)
#define TMPM_SUPPORT_PUNSMASH BIT(7)
#define TMPM_ST_INVALID_PAGE_SIZE 0x06
#define TMPM_ST_INVALID_HPTE_PADDR 0x0a
#define TMPM_ST_INVALID_COMMAND 0x0b
#define TMPM_ST_SUCCESS 0xf0

/* Polling: 1000 x 25 us = 25 ms, for the TOGGLE flip and for a command's status. */
#define TMPM_POLL_US 25
#define TMPM_POLL_LOOPS 1000

struct tmpm_entry {
	u64 list_paddr;
	u32 cmd_reg;	/* 7:0 command, 27:16 number of pages */
	u32 status_reg; /* 7:0 status, written by the engine */
};

/* PSMASH_IO's command page: four qwords. */
struct tmpm_psmash_page {
	u64 src_pg_paddr;
	u64 smash_hpte_paddr;
	u64 src_hpmd_paddr;
	u64 gctx; /* 51:12 the guest context page; out: 7:0 status, 11:8 sub-status, 59:56 PTE sub-error, 63:60 PTE error */
};

struct tmpm_caps {
	u32 fw_reg, spec_reg, support_reg;
};

struct tmpm {
	struct device dev;
	void __iomem *regs;
	struct page *ring_block; /* 2 MB-aligned: the ring is its first 4 KB */
	struct tmpm_entry *ring;
	dma_addr_t ring_dma;
	void *cmd; /* the command page, one coherent 4 KB buffer */
	dma_addr_t cmd_dma;
	u16 head;
	u32 support;
	spinlock_t lock;
	/* What the interrupt handler saw. */
	unsigned int interrupts;
	u32 irq_status;
	bool stopped;
};

int tmpm_init(struct tmpm *t, void __iomem *regs);
int tmpm_restart(struct tmpm *t);
int tmpm_shutdown(struct tmpm *t);
int tmpm_pause(struct tmpm *t, bool pause);
int tmpm_get_capabilities(struct tmpm *t, struct tmpm_caps *caps);
/* One entry at the head, not waited for: its slot in *index; -EAGAIN when the ring is full. */
int tmpm_queue(struct tmpm *t, u8 command, dma_addr_t list, u16 pages, u16 *index);
/* Waits for the entry in slot `index`: its status, or -ETIMEDOUT after 25 ms. */
int tmpm_wait(struct tmpm *t, u16 index, u8 *status);
/* tmpm_queue then tmpm_wait. */
int tmpm_submit(struct tmpm *t, u8 command, dma_addr_t list, u16 pages, u8 *status);
/* PSMASH_IO with the four addresses given; *gctx_out is the gctx word the engine wrote back. */
int tmpm_psmash_io(struct tmpm *t, u64 src_pg, u64 smash_hpte, u64 src_hpmd, u64 gctx, u8 *status, u64 *gctx_out);
irqreturn_t tmpm_irq(int irq, void *dev_id);

#endif
