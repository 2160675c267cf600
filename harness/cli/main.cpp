// placeholder until the replay command lands
int main() { return 0; }
