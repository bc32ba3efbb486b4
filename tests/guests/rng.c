#include "guest.h"
const char test_name[] = "rng";
void test_main(void) {}
