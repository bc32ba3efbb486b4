#include "guest.h"
const char test_name[] = "blk";
void test_main(void) {}
