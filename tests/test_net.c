int main(void) { return 77; } /* placeholder: replaced by the real file */
