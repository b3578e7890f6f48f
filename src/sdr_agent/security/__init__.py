"""Address policy for outbound URLs and other abuse defences shared by the API and the workers."""
