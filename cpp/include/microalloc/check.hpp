#pragma once
/// Argument checks of the core. They guard the C++ entry points against inconsistent sizes;
/// user-facing validation with named arguments happens before the core is called.
#include <stdexcept>
#include <string>

#define MICROALLOC_CHECK_SIZE(got, expected, what)                                                 \
  do {                                                                                           \
    if ((got) != (expected)) {                                                                   \
      throw std::invalid_argument(std::string(what) + ": expected size " +                       \
                                  std::to_string(expected) + ", got " + std::to_string(got));    \
    }                                                                                            \
  } while (0)
