/*
 * Force-included into every translation unit of the addon by scripts/run.mjs (-include). glibc 2.34 moved dlsym and
 * pthread_once into libc.so.6 under new symbol versions; linked on a newer glibc, the addon would require 2.34 and
 * fail to load (falling back to timers) on older distributions that Node itself supports (Node 22+ needs glibc 2.28).
 * Binding them to their original versions, which every glibc still exports, keeps the addon's baseline at what
 * its other symbols need (timerfd_*, memcpy: glibc 2.14 on x86-64, 2.17 on arm64).
 */
#ifndef LOOPWATCH_GLIBC_BASELINE_H
#define LOOPWATCH_GLIBC_BASELINE_H
#include <features.h>
#if defined(__GLIBC__) && !defined(__UCLIBC__)
#if defined(__x86_64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver pthread_once,pthread_once@GLIBC_2.2.5");
#elif defined(__aarch64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.17");
__asm__(".symver pthread_once,pthread_once@GLIBC_2.17");
#endif
#endif
#endif
