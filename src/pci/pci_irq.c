/* SPDX-License-Identifier: MIT */
/*
 * Interrupts, as vfio-pci's vfio_pci_intrs.c gives them (contract in pci.h).
 *
 * The device is in one mode at a time (pd->irq_type: none, INTx, MSI or
 * MSI-X), chosen by SET_IRQS: enabling a mode while another is enabled is
 * -EINVAL; count 0 with DATA_NONE disables the enabled one.
 *
 * INTx is level triggered with automask: when the device raises its line
 * while INTx is unmasked, the line is masked and the trigger eventfd is
 * written once; the program's UNMASK unmasks it, and if the line is still
 * high at that moment it stays masked and the eventfd is written again (so
 * a device that keeps its line up keeps interrupting, one event per
 * unmask). The program's INTX_DISABLE command bit masks INTx too.
 *
 * MSI is edge: each message the device sends writes the vector's eventfd.
 * The number of vectors is fixed when MSI is enabled (NORESIZE): a block
 * beyond them is -EINVAL until MSI is disabled and enabled again larger.
 *
 * ERR and REQ hold one eventfd each; DATA_NONE and DATA_BOOL write it (the
 * loopback vfio-pci offers for testing).
 *
 * Eventfds are validated as Linux's eventfd_ctx_fdget does (-EBADF not
 * open, -EINVAL not an eventfd) and duplicated, so the program may close
 * its fd. All under pd->lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "fault.h"

#include "pci.h"

/* Take a reference on an eventfd: a duplicate of fd. 0 or -errno. */
static int eventfd_get(int fd, int *out)
{
	static const char want[] = "anon_inode:[eventfd]";
	char path[48], link[64];
	ssize_t n;
	int d;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link));
	if (n >= 0 && ((size_t)n != sizeof(want) - 1 || memcmp(link, want, (size_t)n)))
		return -EINVAL;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -EMFILE;
	d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (d < 0)
		return -errno;
	*out = d;
	return 0;
}

static void eventfd_put(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void signal_fd(struct svf_pci_dev *pd, int fd)
{
	uint64_t one = 1;

	if (fd < 0)
		return;
	/* A full counter (EAGAIN) still leaves the eventfd readable: the event is not lost. */
	if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		__atomic_add_fetch(&pd->irqs_signalled, 1, __ATOMIC_RELAXED);
}

unsigned svf_pci_irq_count(const struct svf_pci_dev *pd, unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return pd->cfg[PCI_INTERRUPT_PIN] ? 1 : 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
		if (!pd->msi_cap)
			return 0;
		return 1u << ((svf_pci_cfg_read16(pd, pd->msi_cap + PCI_MSI_FLAGS) &
			       PCI_MSI_FLAGS_QMASK) >> 1);
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return pd->msix_bar >= 0 ? pd->msix_vectors : 0;
	case VFIO_PCI_ERR_IRQ_INDEX:
		return pd->is_pcie ? 1 : 0;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	default:
		return 0;
	}
}

bool svf_pci_msi_enabled(const struct svf_pci_dev *pd)
{
	return pd->irq_type == SVF_PCI_IRQ_MSI || pd->irq_type == SVF_PCI_IRQ_MSIX;
}

static void set_status_intx(struct svf_pci_dev *pd)
{
	uint16_t st = svf_pci_cfg_read16(pd, PCI_STATUS);

	st = pd->intx_line ? (st | PCI_STATUS_INTERRUPT) : (st & ~PCI_STATUS_INTERRUPT);
	pd->cfg[PCI_STATUS] = (uint8_t)st;
	pd->cfg[PCI_STATUS + 1] = (uint8_t)(st >> 8);
}

/* The line is high and INTx unmasked: mask and signal (vfio_intx_handler). */
static void intx_fire(struct svf_pci_dev *pd)
{
	if (pd->irq_type != SVF_PCI_IRQ_INTX || !pd->intx_line || pd->intx_masked ||
	    pd->virq_disabled)
		return;
	pd->intx_masked = true;
	signal_fd(pd, pd->intx_fd);
}

void svf_pci_intx_set(struct svf_pci_dev *pd, bool level)
{
	pd->intx_line = level;
	set_status_intx(pd);
	if (level)
		intx_fire(pd);
}

static void intx_mask(struct svf_pci_dev *pd)
{
	if (pd->irq_type == SVF_PCI_IRQ_INTX)
		pd->intx_masked = true;
}

/* vfio_pci_intx_unmask: stays masked and signals again while the line is high. */
static void intx_unmask(struct svf_pci_dev *pd)
{
	if (pd->irq_type != SVF_PCI_IRQ_INTX || !pd->intx_masked || pd->virq_disabled)
		return;
	if (pd->intx_line) {
		signal_fd(pd, pd->intx_fd);
		return;
	}
	pd->intx_masked = false;
}

void svf_pci_intx_virq(struct svf_pci_dev *pd, bool disabled)
{
	if (disabled && !pd->virq_disabled) {
		pd->virq_disabled = true;
		intx_mask(pd);
	} else if (!disabled && pd->virq_disabled) {
		pd->virq_disabled = false;
		intx_unmask(pd);
	}
}

bool svf_pci_poll_unmask(struct svf_pci_dev *pd)
{
	uint64_t v;

	if (pd->intx_unmask_fd < 0)
		return false;
	if (read(pd->intx_unmask_fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return false;
	intx_unmask(pd);
	return true;
}

void svf_pci_msi_notify(struct svf_pci_dev *pd, unsigned vec)
{
	if (!svf_pci_msi_enabled(pd) || vec >= pd->msi_nvec)
		return;
	signal_fd(pd, pd->msi_fd[vec]);
}

static void intx_disable(struct svf_pci_dev *pd)
{
	eventfd_put(&pd->intx_fd);
	eventfd_put(&pd->intx_unmask_fd);
	pd->intx_masked = false;
	pd->irq_type = SVF_PCI_IRQ_NONE;
}

static void msi_disable(struct svf_pci_dev *pd)
{
	for (unsigned i = 0; i < pd->msi_nvec; i++)
		eventfd_put(&pd->msi_fd[i]);
	pd->msi_nvec = 0;
	pd->irq_type = SVF_PCI_IRQ_NONE;
}

/* ---- INTx ---- */

static int set_intx_mask(struct svf_pci_dev *pd, unsigned start, unsigned count, uint32_t flags,
			 const void *data)
{
	if (pd->irq_type != SVF_PCI_IRQ_INTX || start != 0 || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE)
		intx_mask(pd);
	else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (*(const uint8_t *)data)
			intx_mask(pd);
	} else if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return -ENOTTY; /* masking by eventfd: vfio-pci has none either */
	return 0;
}

static int set_intx_unmask(struct svf_pci_dev *pd, unsigned start, unsigned count, uint32_t flags,
			   const void *data)
{
	if (pd->irq_type != SVF_PCI_IRQ_INTX || start != 0 || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE) {
		intx_unmask(pd);
	} else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (*(const uint8_t *)data)
			intx_unmask(pd);
	} else if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd = *(const int32_t *)data;
		int d, rc;

		if (fd < 0) {
			eventfd_put(&pd->intx_unmask_fd);
			return 0;
		}
		rc = eventfd_get(fd, &d);
		if (rc)
			return rc;
		eventfd_put(&pd->intx_unmask_fd);
		pd->intx_unmask_fd = d;
		svf_pci_watch_kick(pd);
	}
	return 0;
}

static int set_intx_trigger(struct svf_pci_dev *pd, unsigned start, unsigned count,
			    uint32_t flags, const void *data)
{
	bool is_intx = pd->irq_type == SVF_PCI_IRQ_INTX;

	if (is_intx && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
		intx_disable(pd);
		return 0;
	}
	if (!(is_intx || pd->irq_type == SVF_PCI_IRQ_NONE) || start != 0 || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd = *(const int32_t *)data;
		int d = -1, rc;

		if (fd >= 0) {
			rc = eventfd_get(fd, &d);
			if (rc)
				return rc;
		}
		if (!is_intx) {
			/* vfio_intx_enable: masked from the start when the program disabled INTx. */
			if (!pd->cfg[PCI_INTERRUPT_PIN]) {
				eventfd_put(&d);
				return -ENODEV;
			}
			pd->irq_type = SVF_PCI_IRQ_INTX;
			pd->intx_masked = pd->virq_disabled;
		}
		eventfd_put(&pd->intx_fd);
		pd->intx_fd = d;
		intx_fire(pd); /* a line already high interrupts at once */
		return 0;
	}
	if (!is_intx)
		return -EINVAL;
	if ((flags & VFIO_IRQ_SET_DATA_NONE) ||
	    ((flags & VFIO_IRQ_SET_DATA_BOOL) && *(const uint8_t *)data))
		if (!pd->virq_disabled)
			signal_fd(pd, pd->intx_fd);
	return 0;
}

/* ---- MSI / MSI-X ---- */

static int msi_set_block(struct svf_pci_dev *pd, unsigned start, unsigned count,
			 const int32_t *fds)
{
	int dup[SVF_PCI_MAX_MSI];
	int rc = 0;
	unsigned i;

	if (start >= pd->msi_nvec || start + count > pd->msi_nvec)
		return -EINVAL;
	/* All or nothing: take every new reference before dropping old ones. */
	for (i = 0; i < count; i++) {
		dup[i] = -1;
		if (fds[i] >= 0) {
			rc = eventfd_get(fds[i], &dup[i]);
			if (rc)
				break;
		}
	}
	if (rc) {
		while (i--)
			eventfd_put(&dup[i]);
		return rc;
	}
	for (i = 0; i < count; i++) {
		eventfd_put(&pd->msi_fd[start + i]);
		pd->msi_fd[start + i] = dup[i];
	}
	return 0;
}

static int set_msi_trigger(struct svf_pci_dev *pd, unsigned index, unsigned start,
			   unsigned count, uint32_t flags, const void *data)
{
	enum svf_pci_irq_type want = index == VFIO_PCI_MSI_IRQ_INDEX ? SVF_PCI_IRQ_MSI :
								       SVF_PCI_IRQ_MSIX;
	bool is = pd->irq_type == want;

	if (is && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
		msi_disable(pd);
		return 0;
	}
	if (!(is || pd->irq_type == SVF_PCI_IRQ_NONE))
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int rc;

		if (is)
			return msi_set_block(pd, start, count, data);
		if (start + count > SVF_PCI_MAX_MSI)
			return -EINVAL;
		pd->irq_type = want;
		pd->msi_nvec = start + count;
		rc = msi_set_block(pd, start, count, data);
		if (rc)
			msi_disable(pd);
		return rc;
	}
	if (!is)
		return -EINVAL;
	for (unsigned i = start; i < start + count && i < pd->msi_nvec; i++) {
		if ((flags & VFIO_IRQ_SET_DATA_NONE) ||
		    ((flags & VFIO_IRQ_SET_DATA_BOOL) && ((const uint8_t *)data)[i - start]))
			signal_fd(pd, pd->msi_fd[i]);
	}
	return 0;
}

/* ---- ERR / REQ ---- */

static int set_ctx_trigger_single(struct svf_pci_dev *pd, int *ctx, unsigned count,
				  uint32_t flags, const void *data)
{
	if (flags & VFIO_IRQ_SET_DATA_NONE) {
		if (*ctx >= 0) {
			if (count)
				signal_fd(pd, *ctx);
			else
				eventfd_put(ctx);
			return 0;
		}
	} else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (!count)
			return -EINVAL;
		if (*(const uint8_t *)data && *ctx >= 0)
			signal_fd(pd, *ctx);
		return 0;
	} else if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd;
		int d, rc;

		if (!count)
			return -EINVAL;
		fd = *(const int32_t *)data;
		if (fd == -1) {
			eventfd_put(ctx);
		} else if (fd >= 0) {
			rc = eventfd_get(fd, &d);
			if (rc)
				return rc;
			eventfd_put(ctx);
			*ctx = d;
		}
		return 0;
	}
	return -EINVAL;
}

int svf_pci_set_irqs(struct svf_pci_dev *pd, uint32_t flags, unsigned index, unsigned start,
		     unsigned count, const void *data)
{
	uint32_t action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;

	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		switch (action) {
		case VFIO_IRQ_SET_ACTION_MASK:
			return set_intx_mask(pd, start, count, flags, data);
		case VFIO_IRQ_SET_ACTION_UNMASK:
			return set_intx_unmask(pd, start, count, flags, data);
		case VFIO_IRQ_SET_ACTION_TRIGGER:
			return set_intx_trigger(pd, start, count, flags, data);
		}
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return set_msi_trigger(pd, index, start, count, flags, data);
		break; /* masking MSI: vfio-pci has no handler */
	case VFIO_PCI_ERR_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER && pd->is_pcie) {
			if (start != 0 || count > 1)
				return -EINVAL;
			return set_ctx_trigger_single(pd, &pd->err_fd, count, flags, data);
		}
		break;
	case VFIO_PCI_REQ_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
			if (start != 0 || count > 1)
				return -EINVAL;
			return set_ctx_trigger_single(pd, &pd->req_fd, count, flags, data);
		}
		break;
	}
	return -ENOTTY;
}

void svf_pci_irq_release(struct svf_pci_dev *pd)
{
	if (pd->irq_type == SVF_PCI_IRQ_INTX)
		intx_disable(pd);
	else if (svf_pci_msi_enabled(pd))
		msi_disable(pd);
	eventfd_put(&pd->intx_unmask_fd);
	eventfd_put(&pd->err_fd);
	eventfd_put(&pd->req_fd);
	pd->virq_disabled = false;
	pd->irq_type = SVF_PCI_IRQ_NONE;
}
