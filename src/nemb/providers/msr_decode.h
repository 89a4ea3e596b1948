/*
 * msr_decode.h - the arithmetic of RAPL model-specific registers, without any I/O, so that
 * tests/provider/test_msr.c checks it on its own (raplcap keeps msr-common apart from
 * msr-sys-linux for the same reason). msr.c does the reading.
 *
 * Every RAPL energy-status register is a 32-bit count of "energy status units" in bits 31:0 that
 * wraps to 0; the unit is 1/2^ESU joule, ESU being bits 12:8 of the power-unit register
 * (Intel MSR_RAPL_POWER_UNIT 0x606, AMD 0xC0010299). Intel SDM vol. 4 and AMD PPR 17h/19h
 * describe both. Two exceptions the SDM states per model, which the Linux driver also applies
 * (drivers/powercap/intel_rapl_common.c: rapl_defaults_hsw_server sets dram_domain_energy_unit
 * to 15.3 uJ; rapl_defaults_spr_server sets no DRAM unit, so DRAM uses MSR 0x606's, and a
 * psys unit of 1 J): server parts from Haswell-EP to Ice Lake-SP, and Xeon Phi, count DRAM in
 * fixed 15.3 uJ units; Sapphire Rapids and later count DRAM in the unit of MSR 0x606 and psys in
 * whole joules.
 *
 * A unit is kept as the exact fraction num/den microjoules, so that a count converts to
 * microjoules in integers (a count is below 2^32 and num at most 10^6, so the product fits in
 * 64 bits) and the wrap range, 2^32 units, is exact for every binary unit.
 */
#ifndef NEMB_MSR_DECODE_H
#define NEMB_MSR_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* Intel */
#define NEMB__MSR_RAPL_POWER_UNIT 0x606u
#define NEMB__MSR_PKG_ENERGY_STATUS 0x611u
#define NEMB__MSR_DRAM_ENERGY_STATUS 0x619u
#define NEMB__MSR_PP0_ENERGY_STATUS 0x639u
#define NEMB__MSR_PP1_ENERGY_STATUS 0x641u
#define NEMB__MSR_PLATFORM_ENERGY_STATUS 0x64Du
/* AMD family 17h and later (Zen), and Hygon */
#define NEMB__MSR_AMD_RAPL_POWER_UNIT 0xC0010299u
#define NEMB__MSR_AMD_CORE_ENERGY_STATUS 0xC001029Au
#define NEMB__MSR_AMD_PKG_ENERGY_STATUS 0xC001029Bu

/* Microjoules per count, as an exact fraction. */
typedef struct nemb__msr_unit {
  uint64_t num;
  uint64_t den;
} nemb__msr_unit;

/* An MSR as /dev/cpu/N/msr returns it: 8 bytes in the CPU's (little-endian) order. Decoded byte
 * by byte so that fixtures mean the same on any host. */
static inline uint64_t nemb__msr_le64(const unsigned char b[8]) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) {
    v = (v << 8) | b[i];
  }
  return v;
}

static inline void nemb__msr_put_le64(unsigned char b[8], uint64_t v) {
  for (int i = 0; i < 8; i++) {
    b[i] = (unsigned char)(v >> (8 * i));
  }
}

/* Energy status units: bits 12:8 of the power-unit register. */
static inline unsigned nemb__msr_esu(uint64_t power_unit_reg) {
  return (unsigned)((power_unit_reg >> 8) & 0x1f);
}

/* 1/2^esu J = 10^6 / 2^esu uJ. */
static inline nemb__msr_unit nemb__msr_unit_from_esu(unsigned esu) {
  nemb__msr_unit u = {1000000u, (uint64_t)1 << (esu & 0x1f)};
  return u;
}

/* The fixed DRAM unit of Haswell-EP and later servers: 15.3 uJ. */
static inline nemb__msr_unit nemb__msr_unit_dram_fixed(void) {
  nemb__msr_unit u = {153u, 10u};
  return u;
}

/* The psys unit of Sapphire Rapids and later: 1 J. */
static inline nemb__msr_unit nemb__msr_unit_joule(void) {
  nemb__msr_unit u = {1000000u, 1u};
  return u;
}

/* The 32-bit count in an energy-status register (bits 63:32 are reserved). */
static inline uint64_t nemb__msr_count(uint64_t reg) {
  return reg & 0xffffffffu;
}

/* A count in microjoules, rounded down. */
static inline uint64_t nemb__msr_count_uj(uint64_t count, nemb__msr_unit u) {
  return (count & 0xffffffffu) * u.num / u.den;
}

/* Where the microjoule reading wraps: 2^32 units. */
static inline uint64_t nemb__msr_range_uj(nemb__msr_unit u) {
  return ((uint64_t)1 << 32) * u.num / u.den;
}

/* Intel family 6 server models whose DRAM counter uses the fixed 15.3 uJ unit. Sources: Intel
 * SDM vol. 4, the MSR tables of these microarchitectures ("MSR_DRAM_ENERGY_STATUS ... energy
 * unit 15.3 micro-joules"), and Linux drivers/powercap/intel_rapl_common.c, whose rapl_ids[]
 * map exactly these models to rapl_defaults_hsw_server (dram_domain_energy_unit = 15300 nJ).
 * Sapphire Rapids and later (0x8F, 0xCF, 0xAD, 0xAE, 0xAF) map to rapl_defaults_spr_server,
 * which has no fixed DRAM unit: their DRAM counter uses MSR 0x606's unit, so they are not here. */
static inline bool nemb__msr_intel_fixed_dram_unit(unsigned family, unsigned model) {
  static const unsigned models[] = {
      0x3F, /* Haswell-X: Linux HASWELL_X -> rapl_defaults_hsw_server */
      0x4F, /* Broadwell-X: BROADWELL_X -> rapl_defaults_hsw_server */
      0x55, /* Skylake-X, Cascade Lake, Cooper Lake: SKYLAKE_X -> rapl_defaults_hsw_server */
      0x6A, /* Ice Lake-X: ICELAKE_X -> rapl_defaults_hsw_server */
      0x6C, /* Ice Lake-D: ICELAKE_D -> rapl_defaults_hsw_server */
      0x57, /* Xeon Phi Knights Landing: XEON_PHI_KNL -> rapl_defaults_hsw_server */
      0x85, /* Xeon Phi Knights Mill: XEON_PHI_KNM -> rapl_defaults_hsw_server */
  };
  if (family != 6) {
    return false;
  }
  for (unsigned i = 0; i < sizeof models / sizeof models[0]; i++) {
    if (models[i] == model) {
      return true;
    }
  }
  return false;
}

/* Intel models whose psys counter counts whole joules: Sapphire Rapids (0x8F), Emerald Rapids
 * (0xCF), Granite Rapids-X/D (0xAD, 0xAE), Sierra Forest (0xAF): Linux intel_rapl_common.c,
 * rapl_defaults_spr_server (psys_domain_energy_unit = 1 J). */
static inline bool nemb__msr_intel_psys_joule_unit(unsigned family, unsigned model) {
  return family == 6 &&
         (model == 0x8F || model == 0xCF || model == 0xAD || model == 0xAE || model == 0xAF);
}

#endif /* NEMB_MSR_DECODE_H */
