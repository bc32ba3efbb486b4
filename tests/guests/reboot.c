#include "guest.h"
const char test_name[] = "reboot";
void test_main(void) {}
