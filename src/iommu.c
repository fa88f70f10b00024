/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
typedef int svf_placeholder_iommu;
