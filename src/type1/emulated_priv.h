/* SPDX-License-Identifier: MIT */
/* Emulated-device pins, container side; see emulated.c. Container lock held. */
#ifndef SOFTVFIO_EMULATED_PRIV_H
#define SOFTVFIO_EMULATED_PRIV_H

#include <stdint.h>

struct svf_container;
struct svf_dma;

void svf_emulated_release_dma(struct svf_container *c, struct svf_dma *dma);
void svf_emulated_notify_unmap(struct svf_container *c, uint64_t iova, uint64_t len);
int svf_emulated_take_own_pins(struct svf_container *c);
void svf_emulated_drop_own_pins(struct svf_container *c, struct svf_dma *dma);

#endif
