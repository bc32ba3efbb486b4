#include "guest.h"
const char test_name[] = "hcall";
void test_main(void) {}
