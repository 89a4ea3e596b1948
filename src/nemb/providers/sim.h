/*
 * sim.h - what tests may ask the simulated device beyond the provider interface: the exact
 * energy it simulates, so a test can compare a measurement with the truth.
 */
#ifndef NEMB_SIM_H
#define NEMB_SIM_H

#include <stddef.h>
#include <stdint.h>

/* The true energy of domain @p d from the device's epoch to @p t_ns, in microjoules, before the
 * counter's time and energy quantization: the integral of the power function. */
double nemb__sim_true_energy_uj(const void *state, size_t d, uint64_t t_ns);

/* The true power of domain @p d at @p t_ns, in watts. */
double nemb__sim_power_w(const void *state, size_t d, uint64_t t_ns);

/* What the counter of domain @p d shows at @p t_ns, unwrapped: the true energy at the last
 * counter update, rounded down to whole energy units, in microjoules. */
uint64_t nemb__sim_counter_uj(const void *state, size_t d, uint64_t t_ns);

/* The counter's update period and the offset of its first update after the epoch, ns. */
double nemb__sim_update_ns(const void *state);
double nemb__sim_phase_ns(const void *state);

/* The CLOCK_MONOTONIC time at which every simulated counter was 0. */
uint64_t nemb__sim_epoch_ns(const void *state);

/* The counter quantum (energy unit) in microjoules. */
double nemb__sim_unit_uj(const void *state);

#endif /* NEMB_SIM_H */
