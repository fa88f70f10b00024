/* SPDX-License-Identifier: MIT */
/*
 * Device files (contract in <softvfio/vfio.h>) and the decoder of the
 * device requests, with vfio-pci's semantics (drivers/vfio/pci/): the order
 * of the checks decides the errno, as in Linux. PCI behaviour itself
 * (config space, BARs, interrupts) lives in src/pci/; this file checks
 * arguments, builds the info structs and capability chains and copies back
 * no more than argsz allows.
 *
 * The caller's memory (request structs, SET_IRQS data, hot reset fds,
 * region buffers) is reached only through uaccess.h, as vfio-pci reaches
 * it through copy_from_user/copy_to_user: memory the process cannot read
 * or write answers -EFAULT, never a signal. Region accesses go through a
 * bounce buffer on the stack, in chunks that end on 8-byte boundaries so
 * the device sees the same pieces as one pass would.
 *
 * Opening follows Linux's group path: the name must match (vfio-pci's match
 * with its " vf_token=" option), the group must have a container whose
 * IOMMU is set, and the first open of a device adds a container user and
 * starts the device (fresh config space, DMA engine on the group's domain);
 * the last close stops it and drops that user.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"
#include "uaccess.h"

#include "vfio_priv.h"

#ifndef offsetofend
#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))
#endif

#define UUID_STRING_LEN 36

/* Linux's uuid_parse: 8-4-4-4-12 hex digits. */
static bool uuid_ok(const char *s)
{
	for (int i = 0; i < UUID_STRING_LEN; i++) {
		char ch = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return false;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
			     (ch >= 'A' && ch <= 'F'))) {
			return false;
		}
	}
	return true;
}

/* vfio-pci's match: 1 match, 0 no match, -EINVAL bad options. */
static int match_name(const struct svf_pci_dev *pd, const char *buf)
{
	size_t len = strlen(pd->desc.name);
	bool vf_token = false;

	if (strncmp(pd->desc.name, buf, len))
		return 0;
	buf += len;
	if (*buf) {
		if (*buf != ' ')
			return 0;
		while (*buf) {
			if (*buf == ' ') {
				buf++;
				continue;
			}
			if (!vf_token && !strncmp(buf, "vf_token=", 9)) {
				buf += 9;
				if (strlen(buf) < UUID_STRING_LEN || !uuid_ok(buf))
					return -EINVAL;
				vf_token = true;
				buf += UUID_STRING_LEN;
			} else {
				return -EINVAL; /* unknown or repeated option */
			}
		}
	}
	/* Neither a PF with VFs nor a VF: a token given is an error. */
	if (vf_token)
		return -EINVAL;
	return 1;
}

int vfio_device_open_locked(struct svf_vfio_group *g, const char *name,
			    struct svf_vfio_device **out)
{
	struct svf_vfio *h = g->h;
	struct svf_vfio_device *dev;
	struct hdev *hd = NULL;
	int rc;

	for (unsigned i = 0; i < h->nr_devs; i++) {
		if (h->devs[i].group != g->id)
			continue;
		rc = match_name(h->devs[i].pd, name);
		if (rc < 0)
			return rc;
		if (rc) {
			hd = &h->devs[i];
			break;
		}
	}
	if (!hd)
		return -ENODEV;
	if (!g->c || !svf_container_iommu_set(g->c))
		return -EINVAL;
	if (svf_should_fail(SVF_FAULT_ALLOC))
		return -ENOMEM;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	if (!hd->open_count) {
		rc = svf_pci_dev_open(hd->pd, g->c, g->dref->d);
		if (rc) {
			free(dev);
			return rc;
		}
		g->container_users++;
	}
	hd->open_count++;
	g->nr_files++;
	dev->h = h;
	dev->g = g;
	dev->hd = hd;
	dev->fd = -1;
	dev->next = h->files;
	h->files = dev;
	*out = dev;
	return 0;
}

void vfio_device_close_locked(struct svf_vfio_device *dev)
{
	struct svf_vfio *h = dev->h;
	struct svf_vfio_group *g = dev->g;
	struct svf_vfio_device **pp;

	for (pp = &h->files; *pp != dev; pp = &(*pp)->next)
		;
	*pp = dev->next;
	if (dev->fd >= 0)
		vfio_unbind_locked(h, dev->fd);
	if (--dev->hd->open_count == 0) {
		svf_pci_dev_close(dev->hd->pd);
		g->container_users--;
	}
	g->nr_files--;
	free(dev);
	vfio_group_maybe_release(g);
}

void svf_vfio_device_close(struct svf_vfio_device *dev)
{
	struct svf_vfio *h;

	if (!dev)
		return;
	h = dev->h;
	pthread_mutex_lock(&h->lock);
	vfio_device_close_locked(dev);
	pthread_mutex_unlock(&h->lock);
}

const char *svf_vfio_device_name(const struct svf_vfio_device *dev)
{
	return dev->hd->pd->desc.name;
}

void svf_vfio_device_get_desc(const struct svf_vfio_device *dev, struct svf_vfio_device_desc *out)
{
	*out = dev->hd->pd->desc;
}

int svf_vfio_device_memfd(struct svf_vfio_device *dev, int *fd)
{
	*fd = dev->hd->pd->memfd;
	return 0;
}

/* ---- requests ---- */

static long get_info(struct svf_pci_dev *pd, struct vfio_device_info *u)
{
	const size_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	const size_t capsz = offsetofend(struct vfio_device_info, cap_offset);
	struct vfio_device_info info;
	size_t copy = minsz;

	if (svf_copy_from_user(&info, u, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	if (info.argsz >= capsz) {
		copy = capsz;
		info.cap_offset = 0; /* no device capabilities (zPCI and PCIe atomics are not modelled) */
	}
	info.flags = VFIO_DEVICE_FLAGS_PCI;
	if (pd->reset_works)
		info.flags |= VFIO_DEVICE_FLAGS_RESET;
	info.num_regions = VFIO_PCI_NUM_REGIONS;
	info.num_irqs = VFIO_PCI_NUM_IRQS;
	return svf_copy_to_user(u, &info, copy);
}

static long get_region_info(struct svf_pci_dev *pd, struct vfio_region_info *u)
{
	const size_t minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_region_info info;
	struct vfio_region_info_cap_type hdr_cap; /* room for the one header we give */
	size_t capsz = 0;

	if (svf_copy_from_user(&info, u, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	switch (info.index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		info.offset = VFIO_PCI_INDEX_TO_OFFSET(info.index);
		info.size = pd->desc.config_size;
		info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		break;
	case VFIO_PCI_BAR0_REGION_INDEX ... VFIO_PCI_BAR5_REGION_INDEX:
		info.offset = VFIO_PCI_INDEX_TO_OFFSET(info.index);
		info.size = pd->desc.bar_size[info.index];
		if (!info.size) {
			info.flags = 0;
			break;
		}
		info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		if (pd->bar_mem[info.index]) {
			info.flags |= VFIO_REGION_INFO_FLAG_MMAP;
			if ((int)info.index == pd->msix_bar) {
				/* The whole BAR maps, MSI-X table included (MSIX_MAPPABLE). */
				memset(&hdr_cap, 0, sizeof(hdr_cap));
				hdr_cap.header.id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE;
				hdr_cap.header.version = 1;
				capsz = sizeof(hdr_cap.header);
			}
		}
		break;
	case VFIO_PCI_ROM_REGION_INDEX:
		info.offset = VFIO_PCI_INDEX_TO_OFFSET(info.index);
		info.size = pd->desc.bar_size[SVF_PCI_ROM_INDEX];
		info.flags = info.size ? VFIO_REGION_INFO_FLAG_READ : 0;
		break;
	case VFIO_PCI_VGA_REGION_INDEX:
		if (!pd->has_vga)
			return -EINVAL;
		info.offset = VFIO_PCI_INDEX_TO_OFFSET(info.index);
		info.size = 0xc0000 - 0xa0000 + 0x3e0 - 0x3b0; /* unreachable: no model has VGA */
		info.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		break;
	default:
		return -EINVAL; /* no device-specific regions */
	}
	if (capsz) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + capsz) {
			info.argsz = (uint32_t)(sizeof(info) + capsz);
			info.cap_offset = 0;
		} else {
			if (svf_should_fail(SVF_FAULT_COPY) ||
			    svf_copy_to_user((uint8_t *)u + sizeof(info), &hdr_cap, capsz))
				return -EFAULT;
			info.cap_offset = sizeof(info);
		}
	}
	return svf_copy_to_user(u, &info, minsz);
}

static long get_irq_info(struct svf_pci_dev *pd, struct vfio_irq_info *u)
{
	const size_t minsz = offsetofend(struct vfio_irq_info, count);
	struct vfio_irq_info info;

	if (svf_copy_from_user(&info, u, minsz))
		return -EFAULT;
	if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	if (info.index == VFIO_PCI_ERR_IRQ_INDEX && !pd->is_pcie)
		return -EINVAL;
	info.flags = VFIO_IRQ_INFO_EVENTFD;
	info.count = svf_pci_irq_count(pd, info.index);
	if (info.index == VFIO_PCI_INTX_IRQ_INDEX)
		info.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	else
		info.flags |= VFIO_IRQ_INFO_NORESIZE;
	return svf_copy_to_user(u, &info, minsz);
}

/* Linux's vfio_set_irqs_validate_and_prepare. */
static int set_irqs_validate(const struct vfio_irq_set *hdr, unsigned max, size_t *data_size)
{
	const size_t minsz = offsetofend(struct vfio_irq_set, count);
	size_t size = 0;

	*data_size = 0;
	if (hdr->argsz < minsz || hdr->index >= VFIO_PCI_NUM_IRQS ||
	    hdr->count >= (UINT32_MAX - hdr->start) ||
	    (hdr->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	if (hdr->start >= max || hdr->start + hdr->count > max)
		return -EINVAL;
	switch (hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		size = 0;
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		size = sizeof(uint8_t);
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		size = sizeof(int32_t);
		break;
	default:
		return -EINVAL;
	}
	if (size) {
		if (hdr->argsz - minsz < (uint64_t)hdr->count * size)
			return -EINVAL;
		*data_size = hdr->count * size;
	}
	return 0;
}

static long set_irqs(struct svf_pci_dev *pd, struct vfio_irq_set *u)
{
	struct vfio_irq_set hdr;
	/* The data of up to 32 eventfds fits here; a larger block is allocated (memdup_user). */
	uint8_t local[SVF_PCI_MAX_MSI * sizeof(int32_t)], *data = local;
	size_t data_size;
	int rc;

	if (svf_copy_from_user(&hdr, u, offsetofend(struct vfio_irq_set, count)))
		return -EFAULT;
	rc = set_irqs_validate(&hdr, hdr.index < VFIO_PCI_NUM_IRQS ?
					     svf_pci_irq_count(pd, hdr.index) : 0,
			       &data_size);
	if (rc)
		return rc;
	if (data_size > sizeof(local)) {
		if (svf_should_fail(SVF_FAULT_ALLOC))
			return -ENOMEM;
		data = malloc(data_size);
		if (!data)
			return -ENOMEM;
	}
	if (data_size && (svf_should_fail(SVF_FAULT_COPY) ||
			  svf_copy_from_user(data, u->data, data_size)))
		rc = -EFAULT;
	else
		rc = svf_pci_set_irqs(pd, hdr.flags, hdr.index, hdr.start, hdr.count, data);
	if (data != local)
		free(data);
	return rc;
}

static void device_reset(struct svf_pci_dev *pd)
{
	pd->ops->reset(pd);
}

static long hot_reset_info(struct svf_pci_dev *pd, struct vfio_pci_hot_reset_info *u)
{
	const size_t minsz = offsetofend(struct vfio_pci_hot_reset_info, count);
	struct vfio_pci_hot_reset_info hdr;
	long rc = 0;

	if (svf_copy_from_user(&hdr, u, minsz))
		return -EFAULT;
	if (hdr.argsz < minsz)
		return -EINVAL;
	hdr.flags = 0;
	/* Each emulated device is alone in its slot: the reset affects it only. */
	if (hdr.argsz < sizeof(hdr) + sizeof(u->devices[0])) {
		rc = -ENOSPC;
	} else {
		struct vfio_pci_dependent_device d = {
			.group_id = pd->desc.group,
			.segment = 0,
			.bus = (uint8_t)(pd->desc.rid >> 8),
			.devfn = (uint8_t)pd->desc.rid,
		};

		if (svf_copy_to_user(&u->devices[0], &d, sizeof(d)))
			return -EFAULT;
	}
	hdr.count = 1;
	if (svf_copy_to_user(u, &hdr, minsz))
		return -EFAULT;
	return rc;
}

static long hot_reset(struct svf_vfio_device *dev, struct vfio_pci_hot_reset *u)
{
	const size_t minsz = offsetofend(struct vfio_pci_hot_reset, count);
	struct vfio_pci_hot_reset hdr;
	bool mine = false;

	if (svf_copy_from_user(&hdr, u, minsz))
		return -EFAULT;
	if (hdr.argsz < minsz || hdr.flags)
		return -EINVAL;
	/* Between 1 and the number of dependent devices (1) groups. */
	if (!hdr.count || hdr.count > 1)
		return -EINVAL;
	if (hdr.argsz - minsz < hdr.count * sizeof(int32_t))
		return -EINVAL;
	for (unsigned i = 0; i < hdr.count; i++) {
		enum svf_vfio_fd_kind kind;
		int32_t fd;
		void *obj;

		if (svf_copy_from_user(&fd, &u->group_fds[i], sizeof(fd)))
			return -EFAULT;
		vfio_resolve_fd(dev->h, fd, &kind, &obj);
		if (kind == SVF_VFIO_FD_NONE)
			return -EBADF;
		if (kind != SVF_VFIO_FD_GROUP)
			return -EINVAL;
		if (obj == dev->g)
			mine = true;
	}
	if (!mine)
		return -EINVAL; /* the caller must own every affected device's group */
	pthread_mutex_lock(&dev->hd->pd->lock);
	device_reset(dev->hd->pd);
	pthread_mutex_unlock(&dev->hd->pd->lock);
	return 0;
}

long svf_vfio_device_ioctl(struct svf_vfio_device *dev, unsigned long request, void *arg)
{
	struct svf_pci_dev *pd = dev->hd->pd;
	long rc;

	switch (request) {
	case VFIO_DEVICE_GET_INFO:
	case VFIO_DEVICE_GET_REGION_INFO:
	case VFIO_DEVICE_GET_IRQ_INFO:
	case VFIO_DEVICE_SET_IRQS:
	case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
	case VFIO_DEVICE_PCI_HOT_RESET:
		if (!arg)
			return -EFAULT;
		break;
	case VFIO_DEVICE_RESET:
		break;
	default:
		return -ENOTTY;
	}
	if (request == VFIO_DEVICE_PCI_HOT_RESET) {
		/* Resolving group fds needs the host's lock, which ranks above the device's. */
		pthread_mutex_lock(&dev->h->lock);
		rc = hot_reset(dev, arg);
		pthread_mutex_unlock(&dev->h->lock);
		return rc;
	}
	pthread_mutex_lock(&pd->lock);
	switch (request) {
	case VFIO_DEVICE_GET_INFO:
		rc = get_info(pd, arg);
		break;
	case VFIO_DEVICE_GET_REGION_INFO:
		rc = get_region_info(pd, arg);
		break;
	case VFIO_DEVICE_GET_IRQ_INFO:
		rc = get_irq_info(pd, arg);
		break;
	case VFIO_DEVICE_SET_IRQS:
		rc = set_irqs(pd, arg);
		break;
	case VFIO_DEVICE_RESET:
		rc = pd->reset_works ? (device_reset(pd), 0) : -EINVAL;
		break;
	default: /* VFIO_DEVICE_GET_PCI_HOT_RESET_INFO */
		rc = hot_reset_info(pd, arg);
		break;
	}
	pthread_mutex_unlock(&pd->lock);
	return rc;
}

#define BOUNCE 256 /* a multiple of 8: chunks end where a one-pass access would cut a piece */

static int region_rw(struct svf_vfio_device *dev, uint8_t *buf, size_t count, uint64_t offset,
		     bool write, size_t *done)
{
	struct svf_pci_dev *pd = dev->hd->pd;
	uint64_t index = offset >> SVF_VFIO_PCI_OFFSET_SHIFT;
	uint64_t pos = offset & ((1ull << SVF_VFIO_PCI_OFFSET_SHIFT) - 1);
	uint8_t bounce[BOUNCE];
	size_t n = 0, total = count;
	int rc = 0;

	*done = 0;
	if (index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	if (index == VFIO_PCI_VGA_REGION_INDEX)
		return -EINVAL; /* no model has VGA */
	if (!buf)
		return -EFAULT;
	if (!count)
		return 0;
	pthread_mutex_lock(&pd->lock);
	/*
	 * The checks that decide the whole access come first (a config
	 * access that does not fit fails whole; a BAR access is clamped at
	 * its end), so that cutting it into chunks changes nothing. A chunk
	 * whose buffer faults ends the access with -EFAULT, the chunks before
	 * it done, as vfio-pci's copy loop ends.
	 */
	if (index == VFIO_PCI_CONFIG_REGION_INDEX) {
		if (pos >= pd->desc.config_size || count > pd->desc.config_size - pos)
			rc = -EFAULT;
	} else if (pd->desc.bar_size[index] && pos < pd->desc.bar_size[index] &&
		   count > pd->desc.bar_size[index] - pos) {
		total = (size_t)(pd->desc.bar_size[index] - pos);
	}
	while (!rc && n < total) {
		size_t chunk = BOUNCE - (size_t)((pos + n) & 7), moved = 0;

		if (chunk > total - n)
			chunk = total - n;
		if (write && svf_copy_from_user(bounce, buf + n, chunk)) {
			rc = -EFAULT;
			break;
		}
		if (index == VFIO_PCI_CONFIG_REGION_INDEX)
			rc = svf_pci_cfg_rw(pd, bounce, chunk, pos + n, write, &moved);
		else
			rc = svf_pci_bar_rw(pd, (int)index, bounce, chunk, pos + n, write, &moved);
		if (!rc && !write && svf_copy_to_user(buf + n, bounce, moved))
			rc = -EFAULT;
		n += moved;
	}
	pthread_mutex_unlock(&pd->lock);
	*done = rc ? 0 : n;
	return rc;
}

int svf_vfio_device_read(struct svf_vfio_device *dev, void *buf, size_t count, uint64_t offset,
			 size_t *done)
{
	return region_rw(dev, buf, count, offset, false, done);
}

int svf_vfio_device_write(struct svf_vfio_device *dev, const void *buf, size_t count,
			  uint64_t offset, size_t *done)
{
	/* The buffer is only read on a write. */
	return region_rw(dev, (uint8_t *)(uintptr_t)buf, count, offset, true, done);
}
