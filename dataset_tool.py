from dataset_tool.__main__ import (
    run,
)  # the dataset_tool/ package wins on import; this file only runs it

if __name__ == "__main__":
    run()
