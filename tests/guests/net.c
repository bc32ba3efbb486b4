#include "guest.h"
const char test_name[] = "net";
void test_main(void) {}
