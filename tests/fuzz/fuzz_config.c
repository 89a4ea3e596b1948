/*
 * fuzz_config.c - the configuration loader (config.json's text, checked against the known keys,
 * unknown keys warned) and the simulated device's configuration (CODEGREEN_SIM_CONFIG's text,
 * through the same validator, then the sim's own domain checks). The first byte chooses: even,
 * the input is a config.json; odd, it is CODEGREEN_SIM_CONFIG. Anything may be refused; nothing
 * may crash, leak, overflow or hit undefined behaviour (a double out of range cast to uint64_t
 * was found this way).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "internal.h"
#include "provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const struct nemb__provider_ops *sim = nemb__provider_find("sim");
  if (size < 1 || size > 1 << 16 || sim == NULL) {
    return 0;
  }
  char *text = malloc(size);
  if (text == NULL) {
    return 0;
  }
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  if ((data[0] & 1) == 0) {
    nemb_config *cfg = NULL;
    if (nemb_config_from_string(text, "fuzz.json", &cfg) == 0) {
      /* And what a provider reads from it: the sim's domains from providers.sim. */
      nemb__provider_env env = {cfg};
      void *st = NULL;
      char why[512];
      if (sim->open(&env, &st, why, sizeof why) == 0) {
        sim->close(st);
      }
      nemb_config_destroy(cfg);
    }
  } else {
    setenv("CODEGREEN_SIM_CONFIG", text, 1);
    nemb__provider_env env = {nemb__config_defaults()};
    void *st = NULL;
    char why[512];
    if (sim->open(&env, &st, why, sizeof why) == 0) {
      const nemb__domain *doms;
      size_t n = sim->domains(st, &doms);
      uint64_t raw[64];
      if (n <= 64) {
        sim->read(st, 123456789, raw); /* energies at a time: no overflow */
      }
      sim->close(st);
    }
    unsetenv("CODEGREEN_SIM_CONFIG");
  }
  free(text);
  return 0;
}
