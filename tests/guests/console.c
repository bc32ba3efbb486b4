#include "guest.h"
const char test_name[] = "console";
void test_main(void) {}
