"""Template classes for families whose official chat template does more than ms-swift's
prefix/prompt/suffix form: native tool calling, reasoning blocks, date headers."""
