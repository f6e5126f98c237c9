"""The replay front ends: the commands (shared), their text renderings, the interactive prompt."""
