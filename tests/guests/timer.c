#include "guest.h"
const char test_name[] = "timer";
void test_main(void) {}
