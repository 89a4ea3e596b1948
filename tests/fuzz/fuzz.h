/*
 * fuzz.h - what every libFuzzer harness under tests/fuzz/ defines. Built with clang's
 * -fsanitize=fuzzer (scripts/fuzz.sh), libFuzzer drives it; in every other build, driver.c
 * replays the committed seed corpus through it as a ctest, so the harnesses and the seeds are
 * checked on machines without clang too.
 */
#ifndef NEMB_FUZZ_H
#define NEMB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* NEMB_FUZZ_H */
