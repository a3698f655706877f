"""Service tickets (客户售后服务单): workflow, store, SLA clocks, the text an engineer reads."""
