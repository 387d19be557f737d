/*
 * flashsale_top.h — `flashsale top`, the live sale-night view (see
 * flashsale_top.c).
 */
#ifndef FLASHSALE_TOP_H
#define FLASHSALE_TOP_H

/* Run `flashsale top` with argv[0] == "top". Returns the exit status. */
int flashsale_top_main(int argc, char **argv);

#endif
