#include "guest.h"
const char test_name[] = "hostile";
void test_main(void) {}
