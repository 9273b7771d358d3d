"""The flow compiler: LangChain graphs, chat models, tools and retrieval. No Ray, no sessions."""
